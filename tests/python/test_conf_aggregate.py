"""Conformance tests: the MongoDB aggregation pipeline (stages and expression operators)
through ``collection.aggregate(...)`` on ``nestdb.MongoClient()``.

Every expectation comes from the MongoDB manual (Aggregation Pipeline Stages / Operators
reference pages): most tests reuse the documents and documented output of a page's
"Examples" section; the rest check behaviour the page states (numeric result types,
null/missing handling, errors). Errors must surface as ``nestdb.OperationFailure``.

Only nestdb, pytest and the standard library are used.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

import nestdb
from nestdb import Decimal128, Int64, ObjectId, OperationFailure

MISSING = object()


@pytest.fixture
def db():
    client = nestdb.MongoClient()
    yield client["conf_aggregate"]
    client.close()


def run(coll, pipeline, **kwargs):
    return list(coll.aggregate(pipeline, **kwargs))


def load(db, name, docs):
    coll = db[name]
    coll.insert_many([dict(d) for d in docs])
    return coll


def ev(db, expr, doc=None):
    """The value of aggregation expression ``expr`` evaluated against ``doc`` (MISSING when the
    expression evaluates to a missing value)."""
    coll = db["expr_scratch"]
    coll.delete_many({})
    coll.insert_one({"_id": 1, **(doc or {})})
    out = run(coll, [{"$addFields": {"__r": expr}}, {"$project": {"_id": 0, "__r": 1}}])
    assert len(out) == 1
    return out[0].get("__r", MISSING)


def kind(v):
    """BSON numeric type of a decoded value."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Int64):
        return "long"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    if isinstance(v, Decimal128):
        return "decimal"
    return type(v).__name__


def dec(v):
    return v.to_decimal()


def D(*args):
    return dt.datetime(*args)


def by_id(docs):
    return {d["_id"]: d for d in docs}


def as_set(values):
    return sorted(repr(v) for v in values)


# =============================================================================================
# Sample data from the manual
# =============================================================================================

SALES = [  # $group page
    {"_id": 1, "item": "abc", "price": Decimal128("10"), "quantity": 2, "date": D(2014, 3, 1, 8, 0, 0)},
    {"_id": 2, "item": "jkl", "price": Decimal128("20"), "quantity": 1, "date": D(2014, 3, 1, 9, 0, 0)},
    {"_id": 3, "item": "xyz", "price": Decimal128("5"), "quantity": 10, "date": D(2014, 3, 15, 9, 0, 0)},
    {"_id": 4, "item": "xyz", "price": Decimal128("5"), "quantity": 20, "date": D(2014, 4, 4, 11, 21, 39, 736000)},
    {"_id": 5, "item": "abc", "price": Decimal128("10"), "quantity": 10, "date": D(2014, 4, 4, 21, 23, 13, 331000)},
    {"_id": 6, "item": "def", "price": Decimal128("7.5"), "quantity": 5, "date": D(2015, 6, 4, 5, 8, 13)},
    {"_id": 7, "item": "def", "price": Decimal128("7.5"), "quantity": 10, "date": D(2015, 9, 10, 8, 43, 0)},
    {"_id": 8, "item": "abc", "price": Decimal128("10"), "quantity": 5, "date": D(2016, 2, 6, 20, 20, 13)},
]

BOOKS = [  # $group page, "Pivot Data"
    {"_id": 8751, "title": "The Banquet", "author": "Dante", "copies": 2},
    {"_id": 8752, "title": "Divine Comedy", "author": "Dante", "copies": 1},
    {"_id": 8645, "title": "Eclogues", "author": "Dante", "copies": 2},
    {"_id": 7000, "title": "The Odyssey", "author": "Homer", "copies": 10},
    {"_id": 7020, "title": "Iliad", "author": "Homer", "copies": 10},
]

GAMESCORES = [  # $top / $bottom / $topN / $firstN / $maxN pages
    {"playerId": "PlayerA", "gameId": "G1", "score": 31},
    {"playerId": "PlayerB", "gameId": "G1", "score": 33},
    {"playerId": "PlayerC", "gameId": "G1", "score": 99},
    {"playerId": "PlayerD", "gameId": "G1", "score": 1},
    {"playerId": "PlayerA", "gameId": "G2", "score": 10},
    {"playerId": "PlayerB", "gameId": "G2", "score": 14},
    {"playerId": "PlayerC", "gameId": "G2", "score": 66},
    {"playerId": "PlayerD", "gameId": "G2", "score": 80},
]

ARTISTS = [  # $bucket page
    {"_id": 1, "last_name": "Bernard", "first_name": "Emil", "year_born": 1868, "year_died": 1941, "nationality": "France"},
    {"_id": 2, "last_name": "Rippl-Ronai", "first_name": "Joszef", "year_born": 1861, "year_died": 1927, "nationality": "Hungary"},
    {"_id": 3, "last_name": "Ostroumova", "first_name": "Anna", "year_born": 1871, "year_died": 1955, "nationality": "Russia"},
    {"_id": 4, "last_name": "Van Gogh", "first_name": "Vincent", "year_born": 1853, "year_died": 1890, "nationality": "Holland"},
    {"_id": 5, "last_name": "Maurer", "first_name": "Alfred", "year_born": 1868, "year_died": 1932, "nationality": "USA"},
    {"_id": 6, "last_name": "Munch", "first_name": "Edvard", "year_born": 1863, "year_died": 1944, "nationality": "Norway"},
    {"_id": 7, "last_name": "Redon", "first_name": "Odilon", "year_born": 1840, "year_died": 1916, "nationality": "France"},
    {"_id": 8, "last_name": "Diriks", "first_name": "Edvard", "year_born": 1855, "year_died": 1930, "nationality": "Norway"},
]

ARTWORK = [  # $bucketAuto page
    {"_id": 1, "title": "The Pillars of Society", "artist": "Grosz", "year": 1926, "price": Decimal128("199.99"),
     "dimensions": {"height": 39, "width": 21, "units": "in"}},
    {"_id": 2, "title": "Melancholy III", "artist": "Munch", "year": 1902, "price": Decimal128("280.00"),
     "dimensions": {"height": 49, "width": 32, "units": "in"}},
    {"_id": 3, "title": "Dancer", "artist": "Miro", "year": 1925, "price": Decimal128("76.04"),
     "dimensions": {"height": 25, "width": 20, "units": "in"}},
    {"_id": 4, "title": "The Great Wave off Kanagawa", "artist": "Hokusai", "price": Decimal128("167.30"),
     "dimensions": {"height": 24, "width": 36, "units": "in"}},
    {"_id": 5, "title": "The Persistence of Memory", "artist": "Dali", "year": 1931, "price": Decimal128("483.00"),
     "dimensions": {"height": 20, "width": 24, "units": "in"}},
    {"_id": 6, "title": "Composition VII", "artist": "Kandinsky", "year": 1913, "price": Decimal128("385.00"),
     "dimensions": {"height": 30, "width": 46, "units": "in"}},
    {"_id": 7, "title": "The Scream", "artist": "Munch", "price": Decimal128("159.00"),
     "dimensions": {"height": 24, "width": 18, "units": "in"}},
    {"_id": 8, "title": "Blue Flower", "artist": "O'Keefe", "year": 1918, "price": Decimal128("118.42"),
     "dimensions": {"height": 24, "width": 20, "units": "in"}},
]

EXHIBITS = [  # $sortByCount page
    {"_id": 1, "title": "The Pillars of Society", "artist": "Grosz", "year": 1926, "tags": ["painting", "satire", "Expressionism", "caricature"]},
    {"_id": 2, "title": "Melancholy III", "artist": "Munch", "year": 1902, "tags": ["woodcut", "Expressionism"]},
    {"_id": 3, "title": "Dancer", "artist": "Miro", "year": 1925, "tags": ["oil", "Surrealism", "painting"]},
    {"_id": 4, "title": "The Great Wave off Kanagawa", "artist": "Hokusai", "tags": ["woodblock", "ukiyo-e"]},
    {"_id": 5, "title": "The Persistence of Memory", "artist": "Dali", "year": 1931, "tags": ["Surrealism", "painting", "oil"]},
    {"_id": 6, "title": "Composition VII", "artist": "Kandinsky", "year": 1913, "tags": ["oil", "painting", "abstract"]},
    {"_id": 7, "title": "The Scream", "artist": "Munch", "year": 1893, "tags": ["Expressionism", "painting", "oil"]},
    {"_id": 8, "title": "Blue Flower", "artist": "O'Keefe", "year": 1918, "tags": ["abstract", "painting"]},
]

INVENTORY_SIZES = [  # $unwind page
    {"_id": 1, "item": "ABC", "sizes": ["S", "M", "L"]},
    {"_id": 2, "item": "EFG", "sizes": []},
    {"_id": 3, "item": "IJK", "sizes": "M"},
    {"_id": 4, "item": "LMN"},
    {"_id": 5, "item": "XYZ", "sizes": None},
]

CAKE_SALES = [  # $setWindowFields page
    {"_id": 0, "type": "chocolate", "orderDate": D(2020, 5, 18, 14, 10, 30), "state": "CA", "price": 13, "quantity": 120},
    {"_id": 1, "type": "chocolate", "orderDate": D(2021, 3, 20, 11, 30, 5), "state": "WA", "price": 14, "quantity": 140},
    {"_id": 2, "type": "vanilla", "orderDate": D(2021, 1, 11, 6, 31, 15), "state": "CA", "price": 12, "quantity": 145},
    {"_id": 3, "type": "vanilla", "orderDate": D(2020, 2, 8, 13, 13, 23), "state": "WA", "price": 13, "quantity": 104},
    {"_id": 4, "type": "strawberry", "orderDate": D(2019, 5, 18, 16, 9, 1), "state": "CA", "price": 41, "quantity": 162},
    {"_id": 5, "type": "strawberry", "orderDate": D(2019, 1, 8, 6, 12, 3), "state": "WA", "price": 43, "quantity": 134},
]


# =============================================================================================
# $group and accumulators
# =============================================================================================


def test_group_by_item_having(db):
    coll = load(db, "sales", SALES)
    out = run(coll, [
        {"$group": {"_id": "$item", "totalSaleAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}}}},
        {"$match": {"totalSaleAmount": {"$gte": 100}}},
        {"$sort": {"_id": 1}},
    ])
    assert [d["_id"] for d in out] == ["abc", "def", "xyz"]
    assert [dec(d["totalSaleAmount"]) for d in out] == [170, 112.5, 150]
    assert all(kind(d["totalSaleAmount"]) == "decimal" for d in out)


def test_group_by_day_with_avg_and_count(db):
    coll = load(db, "sales", SALES)
    out = run(coll, [
        {"$match": {"date": {"$gte": D(2014, 1, 1), "$lt": D(2015, 1, 1)}}},
        {"$group": {
            "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$date"}},
            "totalSaleAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}},
            "averageQuantity": {"$avg": "$quantity"},
            "count": {"$sum": 1},
        }},
        {"$sort": {"totalSaleAmount": -1}},
    ])
    assert [d["_id"] for d in out] == ["2014-04-04", "2014-03-15", "2014-03-01"]
    assert [dec(d["totalSaleAmount"]) for d in out] == [200, 50, 40]
    assert [d["averageQuantity"] for d in out] == [15, 10, 1.5]
    assert all(kind(d["averageQuantity"]) == "double" for d in out)
    assert [d["count"] for d in out] == [2, 1, 2]
    assert all(kind(d["count"]) == "int" for d in out)


def test_group_by_null(db):
    coll = load(db, "sales", SALES)
    out = run(coll, [{"$group": {
        "_id": None,
        "totalSaleAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}},
        "averageQuantity": {"$avg": "$quantity"},
        "count": {"$sum": 1},
    }}])
    assert len(out) == 1
    assert out[0]["_id"] is None
    assert dec(out[0]["totalSaleAmount"]) == dec(Decimal128("452.5"))
    assert out[0]["averageQuantity"] == 7.875
    assert out[0]["count"] == 8


def test_group_distinct_values(db):
    coll = load(db, "sales", SALES)
    out = run(coll, [{"$group": {"_id": "$item"}}, {"$sort": {"_id": 1}}])
    assert out == [{"_id": "abc"}, {"_id": "def"}, {"_id": "jkl"}, {"_id": "xyz"}]


def test_group_pivot_push_titles_and_root(db):
    coll = load(db, "books", BOOKS)
    out = run(coll, [{"$group": {"_id": "$author", "books": {"$push": "$title"}}}, {"$sort": {"_id": 1}}])
    assert out == [
        {"_id": "Dante", "books": ["The Banquet", "Divine Comedy", "Eclogues"]},
        {"_id": "Homer", "books": ["The Odyssey", "Iliad"]},
    ]
    out = run(coll, [
        {"$group": {"_id": "$author", "books": {"$push": "$$ROOT"}}},
        {"$addFields": {"totalCopies": {"$sum": "$books.copies"}}},
        {"$sort": {"_id": 1}},
    ])
    assert [(d["_id"], d["totalCopies"]) for d in out] == [("Dante", 5), ("Homer", 20)]
    assert out[1]["books"] == [BOOKS[3], BOOKS[4]]


def test_group_compound_key_and_missing_key_is_null(db):
    coll = load(db, "c", [
        {"_id": 1, "a": 1, "b": "x", "v": 1},
        {"_id": 2, "a": 1, "b": "x", "v": 2},
        {"_id": 3, "v": 4},
        {"_id": 4, "a": None, "v": 8},
    ])
    out = run(coll, [{"$group": {"_id": "$a", "t": {"$sum": "$v"}}}, {"$sort": {"_id": 1}}])
    assert out == [{"_id": None, "t": 12}, {"_id": 1, "t": 3}]
    out = run(coll, [{"$match": {"a": 1}}, {"$group": {"_id": {"a": "$a", "b": "$b"}, "n": {"$sum": 1}}}])
    assert out == [{"_id": {"a": 1, "b": "x"}, "n": 2}]


def test_group_numeric_keys_compare_by_value(db):
    coll = load(db, "c", [{"_id": 1, "k": 1}, {"_id": 2, "k": 1.0}, {"_id": 3, "k": Int64(1)}, {"_id": 4, "k": 2}])
    out = run(coll, [{"$group": {"_id": "$k", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert [(d["_id"], d["n"]) for d in out] == [(1, 3), (2, 1)]


def test_group_sum_result_types(db):
    # $sum page, "Result Data Type": same type as the input unless it cannot be represented.
    coll = load(db, "c", [
        {"_id": 1, "g": "ints", "v": 1}, {"_id": 2, "g": "ints", "v": 2},
        {"_id": 3, "g": "overflow", "v": 2147483647}, {"_id": 4, "g": "overflow", "v": 1},
        {"_id": 5, "g": "long", "v": Int64(5)}, {"_id": 6, "g": "long", "v": 1},
        {"_id": 7, "g": "double", "v": 1}, {"_id": 8, "g": "double", "v": 0.5},
        {"_id": 9, "g": "strings", "v": "a"}, {"_id": 10, "g": "strings"},
    ])
    out = by_id(run(coll, [{"$group": {"_id": "$g", "s": {"$sum": "$v"}, "a": {"$avg": "$v"}}}]))
    assert (out["ints"]["s"], kind(out["ints"]["s"])) == (3, "int")
    assert (out["overflow"]["s"], kind(out["overflow"]["s"])) == (2147483648, "long")
    assert (out["long"]["s"], kind(out["long"]["s"])) == (6, "long")
    assert (out["double"]["s"], kind(out["double"]["s"])) == (1.5, "double")
    # non-numeric values only: $sum is 0, $avg is null
    assert (out["strings"]["s"], kind(out["strings"]["s"])) == (0, "int")
    assert out["strings"]["a"] is None
    assert (out["ints"]["a"], kind(out["ints"]["a"])) == (1.5, "double")


def test_group_avg_of_decimals_is_decimal(db):
    coll = load(db, "c", [{"_id": 1, "v": Decimal128("1.5")}, {"_id": 2, "v": Decimal128("2.5")}])
    out = run(coll, [{"$group": {"_id": None, "a": {"$avg": "$v"}, "s": {"$sum": "$v"}}}])
    assert kind(out[0]["a"]) == "decimal" and dec(out[0]["a"]) == 2
    assert kind(out[0]["s"]) == "decimal" and dec(out[0]["s"]) == 4


def test_group_sum_does_not_traverse_arrays(db):
    # $sum page: as an accumulator with a single array-valued expression, the array is non-numeric.
    coll = load(db, "c", [{"_id": 1, "v": [1, 2]}, {"_id": 2, "v": 5}])
    out = run(coll, [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])
    assert out[0]["s"] == 5


def test_group_min_max_ignore_null_and_missing(db):
    coll = load(db, "c", [
        {"_id": 1, "g": 1, "v": 3}, {"_id": 2, "g": 1, "v": None}, {"_id": 3, "g": 1}, {"_id": 4, "g": 1, "v": 1},
        {"_id": 5, "g": 2, "v": None}, {"_id": 6, "g": 2},
        {"_id": 7, "g": 3, "v": 1}, {"_id": 8, "g": 3, "v": "a"},
    ])
    out = by_id(run(coll, [{"$group": {"_id": "$g", "mn": {"$min": "$v"}, "mx": {"$max": "$v"}}}]))
    assert (out[1]["mn"], out[1]["mx"]) == (1, 3)
    assert (out[2]["mn"], out[2]["mx"]) == (None, None)
    # mixed types compare by BSON order (numbers < strings)
    assert (out[3]["mn"], out[3]["mx"]) == (1, "a")


def test_group_first_last(db):
    coll = load(db, "sales", SALES)
    out = run(coll, [
        {"$sort": {"item": 1, "date": 1}},
        {"$group": {"_id": "$item", "firstSale": {"$first": "$date"}, "lastSale": {"$last": "$date"},
                    "firstMissing": {"$first": "$nope"}}},
        {"$sort": {"_id": 1}},
    ])
    assert out[0] == {"_id": "abc", "firstSale": D(2014, 3, 1, 8), "lastSale": D(2016, 2, 6, 20, 20, 13), "firstMissing": None}
    assert [d["_id"] for d in out] == ["abc", "def", "jkl", "xyz"]


def test_group_add_to_set(db):
    coll = load(db, "sales", SALES)
    out = run(coll, [{"$group": {"_id": {"$year": "$date"}, "items": {"$addToSet": "$item"}}}, {"$sort": {"_id": 1}}])
    assert [d["_id"] for d in out] == [2014, 2015, 2016]
    assert sorted(out[0]["items"]) == ["abc", "jkl", "xyz"]
    assert out[1]["items"] == ["def"]
    assert out[2]["items"] == ["abc"]


def test_group_count_accumulator(db):
    coll = load(db, "sales", SALES)
    out = run(coll, [{"$group": {"_id": "$item", "n": {"$count": {}}}}, {"$sort": {"_id": 1}}])
    assert [(d["_id"], d["n"]) for d in out] == [("abc", 3), ("def", 2), ("jkl", 1), ("xyz", 2)]
    assert kind(out[0]["n"]) == "int"


def test_group_std_dev(db):
    coll = load(db, "users", [
        {"_id": 1, "name": "dave123", "quiz": 1, "score": 85},
        {"_id": 2, "name": "dave2", "quiz": 1, "score": 90},
        {"_id": 3, "name": "ahn", "quiz": 1, "score": 71},
        {"_id": 4, "name": "li", "quiz": 2, "score": 96},
        {"_id": 5, "name": "annT", "quiz": 2, "score": 77},
        {"_id": 6, "name": "ty", "quiz": 2, "score": 82},
    ])
    out = run(coll, [{"$group": {"_id": "$quiz", "pop": {"$stdDevPop": "$score"}, "samp": {"$stdDevSamp": "$score"}}},
                     {"$sort": {"_id": 1}}])
    for d in out:
        assert d["pop"] == pytest.approx(8.04155872120988)
        assert d["samp"] == pytest.approx(math.sqrt(97))
    # a single value: $stdDevSamp is null
    out = run(coll, [{"$match": {"_id": 1}}, {"$group": {"_id": None, "samp": {"$stdDevSamp": "$score"}}}])
    assert out[0]["samp"] is None


def test_group_merge_objects_accumulator(db):
    coll = load(db, "sales", [
        {"_id": 1, "year": 2017, "item": "A", "quantity": {"2017Q1": 500, "2017Q2": 500}},
        {"_id": 2, "year": 2016, "item": "A", "quantity": {"2016Q1": 400, "2016Q2": 300, "2016Q3": 0, "2016Q4": 0}},
        {"_id": 3, "year": 2017, "item": "B", "quantity": {"2017Q1": 300}},
        {"_id": 4, "year": 2016, "item": "B", "quantity": {"2016Q3": 100, "2016Q4": 250}},
    ])
    out = run(coll, [{"$group": {"_id": "$item", "mergedSales": {"$mergeObjects": "$quantity"}}}, {"$sort": {"_id": 1}}])
    assert out == [
        {"_id": "A", "mergedSales": {"2017Q1": 500, "2017Q2": 500, "2016Q1": 400, "2016Q2": 300, "2016Q3": 0, "2016Q4": 0}},
        {"_id": "B", "mergedSales": {"2017Q1": 300, "2016Q3": 100, "2016Q4": 250}},
    ]


def test_group_top_and_bottom(db):
    coll = load(db, "gamescores", GAMESCORES)
    out = run(coll, [
        {"$match": {"gameId": "G1"}},
        {"$group": {"_id": "$gameId",
                    "top": {"$top": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}}},
                    "bottom": {"$bottom": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}}}}},
    ])
    assert out == [{"_id": "G1", "top": ["PlayerC", 99], "bottom": ["PlayerD", 1]}]


def test_group_top_n_bottom_n(db):
    coll = load(db, "gamescores", GAMESCORES)
    out = run(coll, [
        {"$group": {"_id": "$gameId",
                    "top3": {"$topN": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}, "n": 3}},
                    "bottom3": {"$bottomN": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}, "n": 3}}}},
        {"$sort": {"_id": 1}},
    ])
    assert out[0]["top3"] == [["PlayerC", 99], ["PlayerB", 33], ["PlayerA", 31]]
    assert out[1]["top3"] == [["PlayerD", 80], ["PlayerC", 66], ["PlayerB", 14]]
    assert out[0]["bottom3"] == [["PlayerB", 33], ["PlayerA", 31], ["PlayerD", 1]]
    assert out[1]["bottom3"] == [["PlayerC", 66], ["PlayerB", 14], ["PlayerA", 10]]


def test_group_first_n_last_n_max_n_min_n(db):
    coll = load(db, "gamescores", GAMESCORES)
    out = run(coll, [
        {"$group": {"_id": "$gameId",
                    "firstThree": {"$firstN": {"input": ["$playerId", "$score"], "n": 3}},
                    "lastTwo": {"$lastN": {"input": "$score", "n": 2}},
                    "maxThree": {"$maxN": {"input": ["$score", "$playerId"], "n": 3}},
                    "minTwo": {"$minN": {"input": "$score", "n": 2}}}},
        {"$sort": {"_id": 1}},
    ])
    g1 = out[0]
    assert g1["firstThree"] == [["PlayerA", 31], ["PlayerB", 33], ["PlayerC", 99]]
    assert g1["lastTwo"] == [99, 1]
    assert g1["maxThree"] == [[99, "PlayerC"], [33, "PlayerB"], [31, "PlayerA"]]
    assert g1["minTwo"] == [1, 31]


def test_group_n_computed_from_group_key(db):
    # $firstN page: "n" may be an expression of the group key.
    coll = load(db, "gamescores", GAMESCORES)
    out = run(coll, [
        {"$group": {"_id": {"gameId": "$gameId"},
                    "gamescores": {"$firstN": {"input": "$score",
                                               "n": {"$cond": {"if": {"$eq": ["$gameId", "G2"]}, "then": 1, "else": 3}}}}}},
        {"$sort": {"_id.gameId": 1}},
    ])
    assert out == [{"_id": {"gameId": "G1"}, "gamescores": [31, 33, 99]}, {"_id": {"gameId": "G2"}, "gamescores": [10]}]


def test_group_errors(db):
    coll = load(db, "c", [{"_id": 1, "a": 1}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$group": {"total": {"$sum": "$a"}}}])  # no _id
    with pytest.raises(OperationFailure):
        run(coll, [{"$group": {"_id": None, "x": {"$notAnAccumulator": "$a"}}}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$group": {"_id": None, "x": {"$sum": "$a", "$avg": "$a"}}}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$group": {"_id": None, "x": "$a"}}])  # not an accumulator object


# =============================================================================================
# $bucket, $bucketAuto, $facet, $sortByCount
# =============================================================================================


def test_bucket_manual_example(db):
    coll = load(db, "artists", ARTISTS)
    out = run(coll, [
        {"$bucket": {
            "groupBy": "$year_born",
            "boundaries": [1840, 1850, 1860, 1870, 1880],
            "default": "Other",
            "output": {
                "count": {"$sum": 1},
                "artists": {"$push": {"name": {"$concat": ["$first_name", " ", "$last_name"]}, "year_born": "$year_born"}},
            },
        }},
        {"$match": {"count": {"$gt": 3}}},
    ])
    assert out == [{"_id": 1860, "count": 4, "artists": [
        {"name": "Emil Bernard", "year_born": 1868},
        {"name": "Joszef Rippl-Ronai", "year_born": 1861},
        {"name": "Alfred Maurer", "year_born": 1868},
        {"name": "Edvard Munch", "year_born": 1863},
    ]}]


def test_bucket_default_count_and_default_bucket(db):
    coll = load(db, "artists", ARTISTS + [{"_id": 9, "last_name": "Nobody"}, {"_id": 10, "year_born": 1900}])
    out = run(coll, [{"$bucket": {"groupBy": "$year_born", "boundaries": [1840, 1850, 1860, 1870, 1880], "default": "Other"}}])
    assert out == [
        {"_id": 1840, "count": 1},
        {"_id": 1850, "count": 2},
        {"_id": 1860, "count": 4},
        {"_id": 1870, "count": 1},
        {"_id": "Other", "count": 2},
    ]


def test_bucket_errors(db):
    coll = load(db, "artists", ARTISTS)
    with pytest.raises(OperationFailure):  # a value outside the boundaries and no default
        run(coll, [{"$bucket": {"groupBy": "$year_born", "boundaries": [1850, 1860]}}])
    with pytest.raises(OperationFailure):  # boundaries not ascending
        run(coll, [{"$bucket": {"groupBy": "$year_born", "boundaries": [1900, 1800], "default": "x"}}])
    with pytest.raises(OperationFailure):  # fewer than two boundaries
        run(coll, [{"$bucket": {"groupBy": "$year_born", "boundaries": [1800], "default": "x"}}])


def test_bucket_auto_decimal_prices(db):
    coll = load(db, "artwork", ARTWORK)
    out = run(coll, [{"$bucketAuto": {"groupBy": "$price", "buckets": 4}}])
    assert [(str(d["_id"]["min"]), str(d["_id"]["max"]), d["count"]) for d in out] == [
        ("76.04", "159.00", 2),
        ("159.00", "199.99", 2),
        ("199.99", "385.00", 2),
        ("385.00", "483.00", 2),
    ]


def test_bucket_auto_in_facet(db):
    coll = load(db, "artwork", ARTWORK)
    out = run(coll, [{"$facet": {
        "year": [{"$bucketAuto": {"groupBy": "$year", "buckets": 3,
                                  "output": {"count": {"$sum": 1}, "years": {"$push": "$year"}}}}],
        "area": [{"$bucketAuto": {"groupBy": {"$multiply": ["$dimensions.height", "$dimensions.width"]}, "buckets": 4,
                                  "output": {"count": {"$sum": 1}, "titles": {"$push": "$title"}}}}],
    }}])
    assert len(out) == 1
    assert out[0]["year"] == [
        {"_id": {"min": None, "max": 1913}, "count": 3, "years": [1902]},
        {"_id": {"min": 1913, "max": 1926}, "count": 3, "years": [1913, 1918, 1925]},
        {"_id": {"min": 1926, "max": 1931}, "count": 2, "years": [1926, 1931]},
    ]
    area = out[0]["area"]
    assert [(d["_id"], d["count"]) for d in area] == [
        ({"min": 432, "max": 500}, 3), ({"min": 500, "max": 864}, 2),
        ({"min": 864, "max": 1568}, 2), ({"min": 1568, "max": 1568}, 1),
    ]
    assert sorted(area[0]["titles"]) == ["Blue Flower", "The Persistence of Memory", "The Scream"]
    assert area[3]["titles"] == ["Melancholy III"]


def test_bucket_auto_without_granularity(db):
    # $bucketAuto page, "Comparing Different Granularities" (a "things" collection with _id 0..99
    # gives these bounds; the last bucket's max is inclusive)
    coll = load(db, "things", [{"_id": i} for i in range(100)])
    out = run(coll, [{"$bucketAuto": {"groupBy": "$_id", "buckets": 5}}])
    assert [(d["_id"]["min"], d["_id"]["max"], d["count"]) for d in out] == [
        (0, 20, 20), (20, 40, 20), (40, 60, 20), (60, 80, 20), (80, 99, 20)]


def test_bucket_auto_granularity(db):
    # same page, same table: the preferred-number series move the boundaries
    coll = load(db, "things", [{"_id": i} for i in range(100)])
    expected = {
        "R20": [(0, 20, 20), (20, 40, 20), (40, 63, 23), (63, 90, 27), (90, 100, 10)],
        "E24": [(0, 20, 20), (20, 43, 23), (43, 68, 25), (68, 91, 23), (91, 100, 9)],
        "1-2-5": [(0, 20, 20), (20, 50, 30), (50, 100, 50)],
        "POWERSOF2": [(0, 32, 32), (32, 64, 32), (64, 128, 36)],
    }
    failures = []
    for granularity, want in expected.items():
        try:
            out = run(coll, [{"$bucketAuto": {"groupBy": "$_id", "buckets": 5, "granularity": granularity}}])
            got = [(d["_id"]["min"], d["_id"]["max"], d["count"]) for d in out]
        except OperationFailure as e:
            got = f"OperationFailure: {e.details.get('errmsg') if e.details else e}"
        if got != want:
            failures.append((granularity, got))
    assert failures == []


def test_facet_runs_sub_pipelines_on_same_input(db):
    coll = load(db, "artwork", ARTWORK)
    out = run(coll, [{"$facet": {
        "byArtist": [{"$sortByCount": "$artist"}, {"$limit": 1}],
        "priceBuckets": [{"$bucket": {"groupBy": "$price", "boundaries": [0, 150, 200, 300, 400], "default": "Other",
                                      "output": {"count": {"$sum": 1}, "titles": {"$push": "$title"}}}}],
        "count": [{"$count": "n"}],
        "none": [{"$match": {"nope": 1}}],
    }}])
    assert len(out) == 1
    assert out[0]["byArtist"] == [{"_id": "Munch", "count": 2}]
    assert [(d["_id"], d["count"]) for d in out[0]["priceBuckets"]] == [(0, 2), (150, 3), (200, 1), (300, 1), ("Other", 1)]
    assert out[0]["priceBuckets"][-1]["titles"] == ["The Persistence of Memory"]
    assert out[0]["count"] == [{"n": 8}]
    assert out[0]["none"] == []


def test_sort_by_count(db):
    coll = load(db, "exhibits", EXHIBITS)
    out = run(coll, [{"$unwind": "$tags"}, {"$sortByCount": "$tags"}])
    counts = [d["count"] for d in out]
    assert counts == sorted(counts, reverse=True)
    assert {d["_id"]: d["count"] for d in out} == {
        "painting": 6, "oil": 4, "Expressionism": 3, "Surrealism": 2, "abstract": 2,
        "woodblock": 1, "woodcut": 1, "ukiyo-e": 1, "satire": 1, "caricature": 1,
    }
    assert out[0] == {"_id": "painting", "count": 6}
    assert kind(out[0]["count"]) == "int"


# =============================================================================================
# $unwind
# =============================================================================================


def test_unwind_field_path(db):
    coll = load(db, "inventory", INVENTORY_SIZES)
    out = run(coll, [{"$unwind": "$sizes"}])
    assert out == [
        {"_id": 1, "item": "ABC", "sizes": "S"},
        {"_id": 1, "item": "ABC", "sizes": "M"},
        {"_id": 1, "item": "ABC", "sizes": "L"},
        {"_id": 3, "item": "IJK", "sizes": "M"},
    ]


def test_unwind_include_array_index(db):
    coll = load(db, "inventory", INVENTORY_SIZES)
    out = run(coll, [{"$unwind": {"path": "$sizes", "includeArrayIndex": "arrayIndex"}}])
    assert out == [
        {"_id": 1, "item": "ABC", "sizes": "S", "arrayIndex": 0},
        {"_id": 1, "item": "ABC", "sizes": "M", "arrayIndex": 1},
        {"_id": 1, "item": "ABC", "sizes": "L", "arrayIndex": 2},
        {"_id": 3, "item": "IJK", "sizes": "M", "arrayIndex": None},
    ]
    assert all(kind(d["arrayIndex"]) == "long" for d in out[:3])  # NumberLong in the manual


def test_unwind_preserve_null_and_empty_arrays(db):
    coll = load(db, "inventory", INVENTORY_SIZES)
    out = run(coll, [{"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": True}}])
    assert out == [
        {"_id": 1, "item": "ABC", "sizes": "S"},
        {"_id": 1, "item": "ABC", "sizes": "M"},
        {"_id": 1, "item": "ABC", "sizes": "L"},
        {"_id": 2, "item": "EFG"},
        {"_id": 3, "item": "IJK", "sizes": "M"},
        {"_id": 4, "item": "LMN"},
        {"_id": 5, "item": "XYZ", "sizes": None},
    ]
    out = run(coll, [{"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": True, "includeArrayIndex": "i"}}])
    assert [d["i"] for d in out] == [0, 1, 2, None, None, None, None]


def test_unwind_embedded_array_then_group(db):
    coll = load(db, "sales", [
        {"_id": "1", "items": [{"name": "pens", "tags": ["writing", "office"], "price": Decimal128("12.00"), "quantity": 5},
                               {"name": "envelopes", "tags": ["stationary", "office"], "price": Decimal128("19.95"), "quantity": 8}]},
        {"_id": "2", "items": [{"name": "laptop", "tags": ["office", "electronics"], "price": Decimal128("800.00"), "quantity": 1},
                               {"name": "notepad", "tags": ["stationary", "school"], "price": Decimal128("14.95"), "quantity": 3}]},
    ])
    out = run(coll, [{"$unwind": "$items"}, {"$unwind": "$items.tags"},
                     {"$group": {"_id": "$items.tags", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert [(d["_id"], d["n"]) for d in out] == [("electronics", 1), ("office", 3), ("school", 1), ("stationary", 2), ("writing", 1)]


def test_unwind_errors(db):
    coll = load(db, "inventory", INVENTORY_SIZES)
    with pytest.raises(OperationFailure):
        run(coll, [{"$unwind": "sizes"}])  # path must start with $
    with pytest.raises(OperationFailure):
        run(coll, [{"$unwind": {"path": "$sizes", "includeArrayIndex": "$i"}}])


# =============================================================================================
# $lookup, $graphLookup, $unionWith
# =============================================================================================


def test_lookup_equality_match_with_null_and_missing(db):
    orders = load(db, "orders", [
        {"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
        {"_id": 2, "item": "pecans", "price": 20, "quantity": 1},
        {"_id": 3},
    ])
    load(db, "inventory", [
        {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
        {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
        {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
        {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
        {"_id": 5, "sku": None, "description": "Incomplete"},
        {"_id": 6},
    ])
    out = run(orders, [{"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inventory_docs"}}])
    assert [[i["_id"] for i in d["inventory_docs"]] for d in out] == [[1], [4], [5, 6]]
    assert out[0]["inventory_docs"][0] == {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120}


def test_lookup_array_local_field(db):
    classes = load(db, "classes", [
        {"_id": 1, "title": "Reading is ...", "enrollmentlist": ["giraffe2", "pandabear", "artie"], "days": ["M", "W", "F"]},
        {"_id": 2, "title": "But Writing ...", "enrollmentlist": ["giraffe1", "artie"], "days": ["T", "F"]},
    ])
    load(db, "members", [
        {"_id": 1, "name": "artie", "status": "A"},
        {"_id": 2, "name": "giraffe", "status": "D"},
        {"_id": 3, "name": "giraffe1", "status": "A"},
        {"_id": 4, "name": "panda", "status": "A"},
        {"_id": 5, "name": "pandabear", "status": "A"},
        {"_id": 6, "name": "giraffe2", "status": "D"},
    ])
    out = run(classes, [{"$lookup": {"from": "members", "localField": "enrollmentlist", "foreignField": "name", "as": "enrollee_info"}}])
    assert sorted(m["_id"] for m in out[0]["enrollee_info"]) == [1, 5, 6]
    assert sorted(m["_id"] for m in out[1]["enrollee_info"]) == [1, 3]


def test_lookup_pipeline_with_let(db):
    orders = load(db, "orders", [
        {"_id": 1, "item": "almonds", "price": 12, "ordered": 2},
        {"_id": 2, "item": "pecans", "price": 20, "ordered": 1},
        {"_id": 3, "item": "cookies", "price": 10, "ordered": 60},
    ])
    load(db, "warehouses", [
        {"_id": 1, "stock_item": "almonds", "warehouse": "A", "instock": 120},
        {"_id": 2, "stock_item": "pecans", "warehouse": "A", "instock": 80},
        {"_id": 3, "stock_item": "almonds", "warehouse": "B", "instock": 60},
        {"_id": 4, "stock_item": "cookies", "warehouse": "B", "instock": 40},
        {"_id": 5, "stock_item": "cookies", "warehouse": "A", "instock": 80},
    ])
    out = run(orders, [{"$lookup": {
        "from": "warehouses",
        "let": {"order_item": "$item", "order_qty": "$ordered"},
        "pipeline": [
            {"$match": {"$expr": {"$and": [{"$eq": ["$stock_item", "$$order_item"]}, {"$gte": ["$instock", "$$order_qty"]}]}}},
            {"$project": {"stock_item": 0, "_id": 0}},
        ],
        "as": "stockdata",
    }}])
    assert [d["stockdata"] for d in out] == [
        [{"warehouse": "A", "instock": 120}, {"warehouse": "B", "instock": 60}],
        [{"warehouse": "A", "instock": 80}],
        [{"warehouse": "A", "instock": 80}],
    ]


def test_lookup_concise_correlated_subquery(db):
    # $lookup page: localField/foreignField together with a pipeline (MongoDB 5.0)
    restaurants = load(db, "restaurants", [
        {"_id": 1, "name": "American Steak House", "food": ["filet", "sirloin"], "beverages": ["beer", "wine"]},
        {"_id": 2, "name": "Honest John Pizza", "food": ["cheese pizza", "pepperoni pizza"], "beverages": ["soda"]},
    ])
    orders = load(db, "orders", [
        {"_id": 1, "item": "filet", "restaurant_name": "American Steak House"},
        {"_id": 2, "item": "cheese pizza", "restaurant_name": "Honest John Pizza", "drink": "lemonade"},
        {"_id": 3, "item": "cheese pizza", "restaurant_name": "Honest John Pizza", "drink": "soda"},
    ])
    assert restaurants.count_documents({}) == 2
    out = run(orders, [{"$lookup": {
        "from": "restaurants", "localField": "restaurant_name", "foreignField": "name",
        "let": {"orders_drink": "$drink"},
        "pipeline": [{"$match": {"$expr": {"$in": ["$$orders_drink", "$beverages"]}}}],
        "as": "matches",
    }}])
    assert [[m["_id"] for m in d["matches"]] for d in out] == [[], [], [2]]


def test_lookup_missing_from_collection_gives_empty_arrays(db):
    coll = load(db, "c", [{"_id": 1, "x": 1}])
    assert run(coll, [{"$lookup": {"from": "nope", "localField": "x", "foreignField": "y", "as": "j"}}]) == [{"_id": 1, "x": 1, "j": []}]


def test_graph_lookup_employees(db):
    coll = load(db, "employees", [
        {"_id": 1, "name": "Dev"},
        {"_id": 2, "name": "Eliot", "reportsTo": "Dev"},
        {"_id": 3, "name": "Ron", "reportsTo": "Eliot"},
        {"_id": 4, "name": "Andrew", "reportsTo": "Eliot"},
        {"_id": 5, "name": "Asya", "reportsTo": "Ron"},
        {"_id": 6, "name": "Dan", "reportsTo": "Andrew"},
    ])
    out = by_id(run(coll, [{"$graphLookup": {"from": "employees", "startWith": "$reportsTo", "connectFromField": "reportsTo",
                                             "connectToField": "name", "as": "reportingHierarchy"}}]))
    assert out[1]["reportingHierarchy"] == []
    assert sorted(e["name"] for e in out[5]["reportingHierarchy"]) == ["Dev", "Eliot", "Ron"]
    assert sorted(e["name"] for e in out[6]["reportingHierarchy"]) == ["Andrew", "Dev", "Eliot"]


def test_graph_lookup_max_depth_and_depth_field(db):
    load(db, "airports", [
        {"_id": 0, "airport": "JFK", "connects": ["BOS", "ORD"]},
        {"_id": 1, "airport": "BOS", "connects": ["JFK", "PWM"]},
        {"_id": 2, "airport": "ORD", "connects": ["JFK"]},
        {"_id": 3, "airport": "PWM", "connects": ["BOS", "LHR"]},
        {"_id": 4, "airport": "LHR", "connects": ["PWM"]},
    ])
    travelers = load(db, "travelers", [
        {"_id": 1, "name": "Dev", "nearestAirport": "JFK"},
        {"_id": 2, "name": "Eliot", "nearestAirport": "JFK"},
        {"_id": 3, "name": "Jeff", "nearestAirport": "BOS"},
    ])
    out = by_id(run(travelers, [{"$graphLookup": {
        "from": "airports", "startWith": "$nearestAirport", "connectFromField": "connects", "connectToField": "airport",
        "maxDepth": 2, "depthField": "numConnections", "as": "destinations"}}]))
    dev = {d["airport"]: d["numConnections"] for d in out[1]["destinations"]}
    assert dev == {"JFK": 0, "BOS": 1, "ORD": 1, "PWM": 2}
    jeff = {d["airport"]: d["numConnections"] for d in out[3]["destinations"]}
    assert jeff == {"BOS": 0, "JFK": 1, "PWM": 1, "ORD": 2, "LHR": 2}
    assert all(kind(d["numConnections"]) == "long" for d in out[3]["destinations"])


def test_graph_lookup_restrict_search_with_match(db):
    coll = load(db, "people", [
        {"_id": 1, "name": "Tanya Jordan", "friends": ["Shirley Soto", "Terry Hawkins", "Carole Hale"], "hobbies": ["tennis", "unicycling", "golf"]},
        {"_id": 2, "name": "Carole Hale", "friends": ["Joseph Dennis", "Tanya Jordan", "Terry Hawkins"], "hobbies": ["archery", "golf", "woodworking"]},
        {"_id": 3, "name": "Terry Hawkins", "friends": ["Tanya Jordan", "Carole Hale", "Angelo Ward"], "hobbies": ["knitting", "frisbee"]},
        {"_id": 4, "name": "Joseph Dennis", "friends": ["Angelo Ward", "Carole Hale"], "hobbies": ["tennis", "golf", "topiary"]},
        {"_id": 5, "name": "Angelo Ward", "friends": ["Terry Hawkins", "Shirley Soto", "Joseph Dennis"], "hobbies": ["travel", "ceramics", "golf"]},
        {"_id": 6, "name": "Shirley Soto", "friends": ["Angelo Ward", "Tanya Jordan", "Carole Hale"], "hobbies": ["frisbee", "set theory"]},
    ])
    out = run(coll, [
        {"$match": {"name": "Tanya Jordan"}},
        {"$graphLookup": {"from": "people", "startWith": "$friends", "connectFromField": "friends", "connectToField": "name",
                          "as": "golfers", "restrictSearchWithMatch": {"hobbies": "golf"}}},
        {"$project": {"name": 1, "friends": 1, "connections who play golf": "$golfers.name"}},
    ])
    assert sorted(out[0]["connections who play golf"]) == ["Angelo Ward", "Carole Hale", "Joseph Dennis", "Tanya Jordan"]


def test_union_with(db):
    suppliers = load(db, "suppliers", [
        {"_id": 1, "supplier": "Aardvark and Sons", "state": "Texas"},
        {"_id": 2, "supplier": "Bears Run Amok.", "state": "Colorado"},
        {"_id": 3, "supplier": "Squid Mark Inc. ", "state": "Rhode Island"},
    ])
    load(db, "warehouses", [
        {"_id": 1, "warehouse": "A", "region": "West", "state": "California"},
        {"_id": 2, "warehouse": "B", "region": "Central", "state": "Colorado"},
        {"_id": 3, "warehouse": "C", "region": "East", "state": "Florida"},
    ])
    out = run(suppliers, [
        {"$project": {"state": 1, "_id": 0}},
        {"$unionWith": {"coll": "warehouses", "pipeline": [{"$project": {"state": 1, "_id": 0}}]}},
        {"$group": {"_id": "$state"}},
        {"$sort": {"_id": 1}},
    ])
    assert [d["_id"] for d in out] == ["California", "Colorado", "Florida", "Rhode Island", "Texas"]
    out = run(suppliers, [{"$unionWith": "warehouses"}])
    assert len(out) == 6 and out[0]["supplier"] == "Aardvark and Sons" and out[3]["warehouse"] == "A"


# =============================================================================================
# Reshaping: $project, $addFields/$set, $unset, $replaceRoot/$replaceWith, $redact
# =============================================================================================


BOOK = {"_id": 1, "title": "abc123", "isbn": "0001122223334", "author": {"last": "zzz", "first": "aaa"}, "copies": 5,
        "lastModified": "2016-07-28"}


def test_project_include_exclude(db):
    coll = load(db, "books", [BOOK])
    assert run(coll, [{"$project": {"title": 1, "author": 1}}]) == [{"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}}]
    assert run(coll, [{"$project": {"_id": 0, "title": 1}}]) == [{"title": "abc123"}]
    assert run(coll, [{"$project": {"author.first": 0, "lastModified": 0, "isbn": 0}}]) == [
        {"_id": 1, "title": "abc123", "author": {"last": "zzz"}, "copies": 5}]
    assert run(coll, [{"$project": {"author": {"first": 1}, "title": True}}]) == [{"_id": 1, "title": "abc123", "author": {"first": "aaa"}}]


def test_project_computed_fields(db):
    coll = load(db, "books", [BOOK])
    out = run(coll, [{"$project": {
        "title": 1,
        "isbn": {"prefix": {"$substr": ["$isbn", 0, 3]}, "group": {"$substr": ["$isbn", 3, 2]},
                 "publisher": {"$substr": ["$isbn", 5, 4]}, "title": {"$substr": ["$isbn", 9, 3]},
                 "checkDigit": {"$substr": ["$isbn", 12, 1]}},
        "lastName": "$author.last",
        "copiesSold": "$copies",
    }}])
    assert out == [{"_id": 1, "title": "abc123",
                    "isbn": {"prefix": "000", "group": "11", "publisher": "2222", "title": "333", "checkDigit": "4"},
                    "lastName": "zzz", "copiesSold": 5}]


def test_project_new_array_fields_missing_becomes_null(db):
    coll = load(db, "c", [{"_id": ObjectId("55ad167f320c6be244eb3b95"), "x": 1, "y": 1}])
    out = run(coll, [{"$project": {"_id": 0, "myArray": ["$x", "$y"], "other": ["$x", "$someField"]}}])
    assert out == [{"myArray": [1, 1], "other": [1, None]}]


def test_project_conditional_remove(db):
    coll = load(db, "books", [
        {"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}},
        {"_id": 2, "title": "Baked Goods", "author": {"last": "xyz", "first": "abc", "middle": ""}},
        {"_id": 3, "title": "Ice Cream Cakes", "author": {"last": "xyz", "first": "abc", "middle": "mmm"}},
    ])
    out = run(coll, [{"$project": {
        "title": 1, "author.first": 1, "author.last": 1,
        "author.middle": {"$cond": {"if": {"$eq": ["", "$author.middle"]}, "then": "$$REMOVE", "else": "$author.middle"}},
    }}])
    assert out == [
        {"_id": 1, "title": "abc123", "author": {"last": "zzz", "first": "aaa"}},
        {"_id": 2, "title": "Baked Goods", "author": {"last": "xyz", "first": "abc"}},
        {"_id": 3, "title": "Ice Cream Cakes", "author": {"last": "xyz", "first": "abc", "middle": "mmm"}},
    ]


def test_project_errors(db):
    coll = load(db, "books", [BOOK])
    with pytest.raises(OperationFailure):  # inclusion and exclusion mixed (other than _id)
        run(coll, [{"$project": {"title": 1, "isbn": 0}}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$project": {}}])
    with pytest.raises(OperationFailure):  # path collision
        run(coll, [{"$project": {"author": 1, "author.first": 1}}])


def test_add_fields_chained(db):
    coll = load(db, "scores", [
        {"_id": 1, "student": "Maya", "homework": [10, 5, 10], "quiz": [10, 8], "extraCredit": 0},
        {"_id": 2, "student": "Ryan", "homework": [5, 6, 5], "quiz": [8, 8], "extraCredit": 8},
    ])
    out = run(coll, [
        {"$addFields": {"totalHomework": {"$sum": "$homework"}, "totalQuiz": {"$sum": "$quiz"}}},
        {"$addFields": {"totalScore": {"$add": ["$totalHomework", "$totalQuiz", "$extraCredit"]}}},
    ])
    assert [(d["totalHomework"], d["totalQuiz"], d["totalScore"]) for d in out] == [(25, 18, 43), (16, 16, 40)]
    assert list(out[0]) == ["_id", "student", "homework", "quiz", "extraCredit", "totalHomework", "totalQuiz", "totalScore"]


def test_add_fields_embedded_and_overwrite(db):
    coll = load(db, "vehicles", [
        {"_id": 1, "type": "car", "specs": {"doors": 4, "wheels": 4}},
        {"_id": 2, "type": "motorcycle", "specs": {"doors": 0, "wheels": 2}},
        {"_id": 3, "type": "jet ski"},
    ])
    out = run(coll, [{"$addFields": {"specs.fuel_type": "unleaded"}}])
    assert [d["specs"] for d in out] == [
        {"doors": 4, "wheels": 4, "fuel_type": "unleaded"},
        {"doors": 0, "wheels": 2, "fuel_type": "unleaded"},
        {"fuel_type": "unleaded"},
    ]
    out = run(coll, [{"$set": {"_id": "$type", "type": "vehicle"}}])
    assert [(d["_id"], d["type"]) for d in out] == [("car", "vehicle"), ("motorcycle", "vehicle"), ("jet ski", "vehicle")]


def test_add_fields_append_to_array(db):
    coll = load(db, "scores", [{"_id": 1, "student": "Maya", "homework": [10, 5, 10], "quiz": [10, 8], "extraCredit": 0}])
    out = run(coll, [{"$match": {"_id": 1}}, {"$addFields": {"homework": {"$concatArrays": ["$homework", [7]]}}}])
    assert out[0]["homework"] == [10, 5, 10, 7]


def test_unset_stage(db):
    coll = load(db, "books", [BOOK])
    assert run(coll, [{"$unset": "copies"}])[0] == {k: v for k, v in BOOK.items() if k != "copies"}
    assert run(coll, [{"$unset": ["isbn", "author.first", "copies", "lastModified"]}]) == [
        {"_id": 1, "title": "abc123", "author": {"last": "zzz"}}]


def test_replace_root_embedded_document(db):
    coll = load(db, "produce", [{"_id": 1, "fruits": ["apples", "oranges"], "in_stock": {"oranges": 20, "apples": 60},
                                 "on_order": {"oranges": 35, "apples": 75}}])
    assert run(coll, [{"$replaceRoot": {"newRoot": "$in_stock"}}]) == [{"oranges": 20, "apples": 60}]
    assert run(coll, [{"$replaceWith": "$on_order"}]) == [{"oranges": 35, "apples": 75}]


def test_replace_root_with_merge_objects_defaults(db):
    coll = load(db, "people", [
        {"_id": 1, "name": "Arlene", "age": 34, "pets": {"dogs": 2, "cats": 1}},
        {"_id": 2, "name": "Sam", "age": 41, "pets": {"cats": 1, "fish": 3}},
        {"_id": 3, "name": "Maria", "age": 25},
    ])
    out = run(coll, [{"$replaceRoot": {"newRoot": {"$mergeObjects": [{"dogs": 0, "cats": 0, "birds": 0, "fish": 0}, "$pets"]}}}])
    assert [list(d.items()) for d in out] == [
        [("dogs", 2), ("cats", 1), ("birds", 0), ("fish", 0)],
        [("dogs", 0), ("cats", 1), ("birds", 0), ("fish", 3)],
        [("dogs", 0), ("cats", 0), ("birds", 0), ("fish", 0)],
    ]
    # the plain form fails on the document without "pets" (not a document)
    with pytest.raises(OperationFailure):
        run(coll, [{"$replaceRoot": {"newRoot": "$pets"}}])


def test_replace_with_computed_document(db):
    coll = load(db, "sales", SALES[:2])
    out = run(coll, [{"$replaceWith": {"_id": "$_id", "item": "$item",
                                       "amount": {"$multiply": ["$price", "$quantity"]}, "status": "Complete"}}])
    assert [(d["_id"], d["item"], dec(d["amount"]), d["status"]) for d in out] == [(1, "abc", 20, "Complete"), (2, "jkl", 20, "Complete")]


def test_redact(db):
    coll = load(db, "forecasts", [{
        "_id": 1, "title": "123 Department Report", "tags": ["G", "STLW"], "year": 2014,
        "subsections": [
            {"subtitle": "Section 1: Overview", "tags": ["SI", "G"], "content": "Section 1: This is the content of section 1."},
            {"subtitle": "Section 2: Analysis", "tags": ["STLW"], "content": "Section 2: This is the content of section 2."},
            {"subtitle": "Section 3: Budgeting", "tags": ["TK"], "content": {"text": "Section 3: This is the content of section3.",
                                                                           "tags": ["HCS"]}},
        ],
    }])
    user_access = ["STLW", "G"]
    out = run(coll, [
        {"$match": {"year": 2014}},
        {"$redact": {"$cond": {"if": {"$gt": [{"$size": {"$setIntersection": ["$tags", user_access]}}, 0]},
                               "then": "$$DESCEND", "else": "$$PRUNE"}}},
    ])
    assert out == [{
        "_id": 1, "title": "123 Department Report", "tags": ["G", "STLW"], "year": 2014,
        "subsections": [
            {"subtitle": "Section 1: Overview", "tags": ["SI", "G"], "content": "Section 1: This is the content of section 1."},
            {"subtitle": "Section 2: Analysis", "tags": ["STLW"], "content": "Section 2: This is the content of section 2."},
        ],
    }]


# =============================================================================================
# $match, $sort, $skip, $limit, $count, $sample, $documents
# =============================================================================================


def test_match_with_expr_and_let(db):
    coll = load(db, "c", [{"_id": i, "a": i, "b": 10 - i} for i in range(10)])
    out = run(coll, [{"$match": {"$expr": {"$gt": ["$a", "$b"]}}}, {"$project": {"_id": 1}}])
    assert [d["_id"] for d in out] == [6, 7, 8, 9]
    out = run(coll, [{"$match": {"$expr": {"$eq": ["$a", "$$target"]}}}], let={"target": 3})
    assert [d["_id"] for d in out] == [3]


def test_sort_skip_limit(db):
    coll = load(db, "c", [{"_id": i, "g": i % 3, "v": i} for i in range(10)])
    out = run(coll, [{"$sort": {"g": -1, "v": 1}}, {"$skip": 2}, {"$limit": 3}])
    assert [d["_id"] for d in out] == [8, 1, 4]
    with pytest.raises(OperationFailure):
        run(coll, [{"$limit": 0}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$skip": -1}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$sort": {"v": 2}}])


def test_sort_missing_and_null_first(db):
    coll = load(db, "c", [{"_id": 1, "v": 2}, {"_id": 2}, {"_id": 3, "v": "a"}, {"_id": 4, "v": None}, {"_id": 5, "v": 1}])
    out = run(coll, [{"$sort": {"v": 1, "_id": 1}}])
    assert [d["_id"] for d in out] == [2, 4, 5, 1, 3]


def test_count_stage(db):
    coll = load(db, "scores", [
        {"_id": 1, "subject": "History", "score": 88}, {"_id": 2, "subject": "History", "score": 92},
        {"_id": 3, "subject": "History", "score": 97}, {"_id": 4, "subject": "History", "score": 71},
        {"_id": 5, "subject": "History", "score": 79}, {"_id": 6, "subject": "History", "score": 83},
    ])
    out = run(coll, [{"$match": {"score": {"$gt": 80}}}, {"$count": "passing_scores"}])
    assert out == [{"passing_scores": 4}]
    assert kind(out[0]["passing_scores"]) == "int"
    assert run(coll, [{"$match": {"score": {"$gt": 100}}}, {"$count": "n"}]) == []
    for bad in ["", "$n", "a.b"]:
        with pytest.raises(OperationFailure):
            run(coll, [{"$count": bad}])


def test_sample(db):
    coll = load(db, "users", [{"_id": i, "name": f"u{i}"} for i in range(10)])
    out = run(coll, [{"$sample": {"size": 3}}])
    assert len(out) == 3 and len({d["_id"] for d in out}) == 3
    out = run(coll, [{"$sample": {"size": 20}}])
    assert sorted(d["_id"] for d in out) == list(range(10))
    with pytest.raises(OperationFailure):
        run(coll, [{"$sample": {"size": -1}}])


def test_documents_stage_database_aggregate(db):
    # $documents page: db.aggregate([{$documents: [...]}, ...])
    out = list(db.aggregate([{"$documents": [{"x": 10}, {"x": 2}, {"x": 5}]}, {"$bucketAuto": {"groupBy": "$x", "buckets": 4}}]))
    assert out == [
        {"_id": {"min": 2, "max": 5}, "count": 1},
        {"_id": {"min": 5, "max": 10}, "count": 1},
        {"_id": {"min": 10, "max": 10}, "count": 1},
    ]


def test_unknown_stage_and_bad_stage_shape(db):
    coll = load(db, "c", [{"_id": 1}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$noSuchStage": {}}])
    with pytest.raises(OperationFailure):
        run(coll, [{"$match": {}, "$limit": 1}])


# =============================================================================================
# $setWindowFields, $densify, $fill
# =============================================================================================


def test_window_cumulative_sum_per_state(db):
    coll = load(db, "cakeSales", CAKE_SALES)
    out = by_id(run(coll, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"orderDate": 1},
        "output": {"cumulativeQuantityForState": {"$sum": "$quantity", "window": {"documents": ["unbounded", "current"]}}},
    }}]))
    assert {i: d["cumulativeQuantityForState"] for i, d in out.items()} == {4: 162, 0: 282, 2: 427, 5: 134, 3: 238, 1: 378}


def test_window_moving_average_by_year(db):
    coll = load(db, "cakeSales", CAKE_SALES)
    out = by_id(run(coll, [{"$setWindowFields": {
        "partitionBy": {"$year": "$orderDate"}, "sortBy": {"orderDate": 1},
        "output": {"averageQuantity": {"$avg": "$quantity", "window": {"documents": [-1, 0]}}},
    }}]))
    assert {i: d["averageQuantity"] for i, d in out.items()} == {5: 134, 4: 148, 3: 104, 0: 112, 2: 145, 1: 142.5}


def test_window_whole_partition_and_output_order(db):
    coll = load(db, "cakeSales", CAKE_SALES)
    out = run(coll, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"orderDate": 1},
        "output": {"total": {"$sum": "$quantity"}, "maxQ": {"$max": "$quantity"}},
    }}])
    assert {d["_id"]: (d["total"], d["maxQ"]) for d in out} == {
        0: (427, 162), 2: (427, 162), 4: (427, 162), 1: (378, 140), 3: (378, 140), 5: (378, 140)}


def test_window_range_numeric(db):
    coll = load(db, "cakeSales", CAKE_SALES)
    out = by_id(run(coll, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"price": 1},
        "output": {"quantityFromSimilarOrders": {"$sum": "$quantity", "window": {"range": [-10, 10]}}},
    }}]))
    assert {i: d["quantityFromSimilarOrders"] for i, d in out.items()} == {2: 265, 0: 265, 4: 162, 3: 244, 1: 244, 5: 134}


def test_window_range_time_unit(db):
    coll = load(db, "cakeSales", CAKE_SALES)
    out = by_id(run(coll, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"orderDate": 1},
        "output": {"recentOrders": {"$push": "$orderDate", "window": {"range": ["unbounded", 10], "unit": "month"}}},
    }}]))
    assert out[4]["recentOrders"] == [D(2019, 5, 18, 16, 9, 1)]
    assert out[0]["recentOrders"] == [D(2019, 5, 18, 16, 9, 1), D(2020, 5, 18, 14, 10, 30), D(2021, 1, 11, 6, 31, 15)]
    assert out[5]["recentOrders"] == [D(2019, 1, 8, 6, 12, 3)]
    assert out[3]["recentOrders"] == [D(2019, 1, 8, 6, 12, 3), D(2020, 2, 8, 13, 13, 23)]


def test_window_rank_dense_rank_document_number(db):
    coll = load(db, "c", [
        {"_id": 1, "s": "CA", "q": 162}, {"_id": 2, "s": "CA", "q": 120}, {"_id": 3, "s": "CA", "q": 145},
        {"_id": 4, "s": "CA", "q": 120}, {"_id": 5, "s": "WA", "q": 140},
    ])
    out = by_id(run(coll, [{"$setWindowFields": {
        "partitionBy": "$s", "sortBy": {"q": -1},
        "output": {"rank": {"$rank": {}}, "dense": {"$denseRank": {}}, "num": {"$documentNumber": {}}},
    }}]))
    assert {i: (d["rank"], d["dense"]) for i, d in out.items()} == {1: (1, 1), 3: (2, 2), 2: (3, 3), 4: (3, 3), 5: (1, 1)}
    assert sorted(out[i]["num"] for i in (1, 2, 3, 4)) == [1, 2, 3, 4]
    assert (out[1]["num"], out[3]["num"], out[5]["num"]) == (1, 2, 1)


def test_window_shift(db):
    coll = load(db, "cakeSales", CAKE_SALES)
    out = by_id(run(coll, [{"$setWindowFields": {
        "partitionBy": "$state", "sortBy": {"quantity": -1},
        "output": {"shiftQuantityForState": {"$shift": {"output": "$quantity", "by": 1, "default": "Not available"}}},
    }}]))
    assert {i: d["shiftQuantityForState"] for i, d in out.items()} == {
        4: 145, 2: 120, 0: "Not available", 1: 134, 5: 104, 3: "Not available"}


def test_window_errors(db):
    coll = load(db, "cakeSales", CAKE_SALES)
    with pytest.raises(OperationFailure):  # $rank needs a sortBy
        run(coll, [{"$setWindowFields": {"output": {"r": {"$rank": {}}}}}])
    with pytest.raises(OperationFailure):  # a range window needs a single sortBy field
        run(coll, [{"$setWindowFields": {"output": {"r": {"$sum": "$quantity", "window": {"range": [-1, 1]}}}}}])


def test_window_exp_moving_avg(db):
    # $expMovingAvg page: stockPrices with N: 2
    coll = load(db, "stockPrices", [
        {"_id": 1, "stock": "ABC", "date": D(2020, 5, 18, 20), "price": 13},
        {"_id": 2, "stock": "ABC", "date": D(2020, 5, 19, 20), "price": 15.4},
        {"_id": 3, "stock": "ABC", "date": D(2020, 5, 20, 20), "price": 12},
        {"_id": 4, "stock": "ABC", "date": D(2020, 5, 21, 20), "price": 11.7},
    ])
    out = run(coll, [{"$setWindowFields": {"partitionBy": "$stock", "sortBy": {"date": 1},
                                           "output": {"ema": {"$expMovingAvg": {"input": "$price", "N": 2}}}}}])
    assert [d["ema"] for d in out] == pytest.approx([13, 14.6, 12.866666666666667, 12.088888888888889])


def test_densify_time_series(db):
    coll = load(db, "weather", [
        {"metadata": {"sensorId": 5578, "type": "temperature"}, "timestamp": D(2021, 5, 18, 0), "temp": 12},
        {"metadata": {"sensorId": 5578, "type": "temperature"}, "timestamp": D(2021, 5, 18, 4), "temp": 11},
        {"metadata": {"sensorId": 5578, "type": "temperature"}, "timestamp": D(2021, 5, 18, 8), "temp": 11},
        {"metadata": {"sensorId": 5578, "type": "temperature"}, "timestamp": D(2021, 5, 18, 12), "temp": 12},
    ])
    out = run(coll, [{"$densify": {"field": "timestamp",
                                   "range": {"step": 1, "unit": "hour", "bounds": [D(2021, 5, 18, 0), D(2021, 5, 18, 8)]}}},
                     {"$sort": {"timestamp": 1}}])
    assert [d["timestamp"].hour for d in out] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 12]
    assert [d for d in out if "temp" not in d] == [{"timestamp": D(2021, 5, 18, h)} for h in (1, 2, 3, 5, 6, 7)]


COFFEE = [
    {"altitude": 600, "variety": "Arabica Typica", "score": 68.3},
    {"altitude": 750, "variety": "Arabica Typica", "score": 69.5},
    {"altitude": 950, "variety": "Arabica Typica", "score": 70.5},
    {"altitude": 1250, "variety": "Gesha", "score": 88.15},
    {"altitude": 1700, "variety": "Gesha", "score": 95.5, "price": 1029},
]


def test_densify_full_with_partitions(db):
    coll = load(db, "coffee", COFFEE)
    out = run(coll, [{"$densify": {"field": "altitude", "partitionByFields": ["variety"], "range": {"bounds": "full", "step": 200}}}])
    alt = {}
    for d in out:
        alt.setdefault(d["variety"], []).append(d["altitude"])
    assert sorted(alt["Arabica Typica"]) == [600, 750, 800, 950, 1000, 1200, 1400, 1600]
    assert sorted(alt["Gesha"]) == [600, 800, 1000, 1200, 1250, 1400, 1600, 1700]
    assert {"variety": "Gesha", "altitude": 600} in out


def test_densify_partition_bounds(db):
    coll = load(db, "coffee", COFFEE)
    out = run(coll, [{"$densify": {"field": "altitude", "partitionByFields": ["variety"], "range": {"bounds": "partition", "step": 200}}}])
    alt = {}
    for d in out:
        alt.setdefault(d["variety"], []).append(d["altitude"])
    assert sorted(alt["Arabica Typica"]) == [600, 750, 800, 950]
    assert sorted(alt["Gesha"]) == [1250, 1450, 1650, 1700]


def test_fill_constant_value(db):
    coll = load(db, "dailySales", [
        {"_id": 1, "date": D(2022, 2, 2), "bootsSold": 10, "sandalsSold": 20, "sneakersSold": 12},
        {"_id": 2, "date": D(2022, 2, 3), "bootsSold": 7, "sneakersSold": 18},
        {"_id": 3, "date": D(2022, 2, 4), "sneakersSold": 5},
    ])
    out = run(coll, [{"$fill": {"output": {"bootsSold": {"value": 0}, "sandalsSold": {"value": 0}, "sneakersSold": {"value": 0}}}}])
    assert [(d["bootsSold"], d["sandalsSold"], d["sneakersSold"]) for d in by_id(out).values()] == [(10, 20, 12), (7, 0, 18), (0, 0, 5)]


def test_fill_linear(db):
    coll = load(db, "stock", [
        {"_id": 1, "time": D(2021, 3, 8, 9), "price": 500},
        {"_id": 2, "time": D(2021, 3, 8, 10)},
        {"_id": 3, "time": D(2021, 3, 8, 11), "price": 515},
        {"_id": 4, "time": D(2021, 3, 8, 12)},
        {"_id": 5, "time": D(2021, 3, 8, 13)},
        {"_id": 6, "time": D(2021, 3, 8, 14), "price": 485},
    ])
    out = run(coll, [{"$fill": {"sortBy": {"time": 1}, "output": {"price": {"method": "linear"}}}}])
    assert [d["price"] for d in out] == [500, 507.5, 515, 505, 495, 485]


def test_fill_locf_with_partitions(db):
    coll = load(db, "restaurantReviewsMultiple", [
        {"_id": 1, "date": D(2021, 3, 8), "restaurant": "Joe's Pizza", "score": 90},
        {"_id": 2, "date": D(2021, 3, 8), "restaurant": "Sally's Deli", "score": 75},
        {"_id": 3, "date": D(2021, 3, 9), "restaurant": "Joe's Pizza", "score": 92},
        {"_id": 4, "date": D(2021, 3, 9), "restaurant": "Sally's Deli"},
        {"_id": 5, "date": D(2021, 3, 10), "restaurant": "Joe's Pizza"},
        {"_id": 6, "date": D(2021, 3, 10), "restaurant": "Sally's Deli", "score": 68},
        {"_id": 7, "date": D(2021, 3, 11), "restaurant": "Joe's Pizza", "score": 93},
        {"_id": 8, "date": D(2021, 3, 11), "restaurant": "Sally's Deli"},
    ])
    out = by_id(run(coll, [{"$fill": {"sortBy": {"date": 1}, "partitionBy": {"restaurant": "$restaurant"},
                                      "output": {"score": {"method": "locf"}}}}]))
    assert {i: d["score"] for i, d in out.items()} == {1: 90, 3: 92, 5: 92, 7: 93, 2: 75, 4: 75, 6: 68, 8: 68}


# =============================================================================================
# $out and $merge
# =============================================================================================


def test_out_replaces_target_collection(db):
    coll = load(db, "books", BOOKS)
    load(db, "authors", [{"_id": "stale"}])
    assert run(coll, [{"$group": {"_id": "$author", "books": {"$push": "$title"}}}, {"$out": "authors"}]) == []
    assert sorted(db["authors"].find(), key=lambda d: d["_id"]) == [
        {"_id": "Dante", "books": ["The Banquet", "Divine Comedy", "Eclogues"]},
        {"_id": "Homer", "books": ["The Odyssey", "Iliad"]},
    ]
    with pytest.raises(OperationFailure):  # $out must be the last stage
        run(coll, [{"$out": "x"}, {"$match": {}}])


def test_merge_when_matched_merge_not_matched_insert(db):
    src = load(db, "salaries", [
        {"_id": 1, "employee": "Ant", "dept": "A", "salary": 100000, "fiscal_year": 2017},
        {"_id": 2, "employee": "Bee", "dept": "A", "salary": 120000, "fiscal_year": 2017},
        {"_id": 3, "employee": "Cat", "dept": "Z", "salary": 115000, "fiscal_year": 2017},
        {"_id": 4, "employee": "Ant", "dept": "A", "salary": 115000, "fiscal_year": 2018},
    ])
    load(db, "budgets", [{"_id": {"fiscal_year": 2017, "dept": "A"}, "salaries": 1, "note": "keep"}])
    out = run(src, [
        {"$group": {"_id": {"fiscal_year": "$fiscal_year", "dept": "$dept"}, "salaries": {"$sum": "$salary"}}},
        {"$merge": {"into": "budgets", "on": "_id", "whenMatched": "merge", "whenNotMatched": "insert"}},
    ])
    assert out == []
    got = {(d["_id"]["fiscal_year"], d["_id"]["dept"]): d for d in db["budgets"].find()}
    assert got[(2017, "A")] == {"_id": {"fiscal_year": 2017, "dept": "A"}, "salaries": 220000, "note": "keep"}
    assert got[(2017, "Z")]["salaries"] == 115000
    assert got[(2018, "A")]["salaries"] == 115000


def test_merge_keep_existing_discard_and_fail(db):
    src = load(db, "src", [{"_id": 1, "v": "new"}, {"_id": 2, "v": "new"}])
    load(db, "dst", [{"_id": 1, "v": "old"}])
    run(src, [{"$merge": {"into": "dst", "whenMatched": "keepExisting", "whenNotMatched": "discard"}}])
    assert list(db["dst"].find()) == [{"_id": 1, "v": "old"}]
    run(src, [{"$merge": {"into": "dst", "whenMatched": "replace", "whenNotMatched": "insert"}}])
    assert sorted(db["dst"].find(), key=lambda d: d["_id"]) == [{"_id": 1, "v": "new"}, {"_id": 2, "v": "new"}]
    with pytest.raises(OperationFailure):
        run(src, [{"$merge": {"into": "dst", "whenMatched": "fail"}}])


def test_merge_when_matched_pipeline(db):
    src = load(db, "src", [{"_id": 1, "qty": 5}])
    load(db, "dst", [{"_id": 1, "qty": 10}])
    run(src, [{"$merge": {"into": "dst", "whenMatched": [{"$set": {"qty": {"$add": ["$qty", "$$new.qty"]}}}]}}])
    assert list(db["dst"].find()) == [{"_id": 1, "qty": 15}]


# =============================================================================================
# More stage behaviour from the manual: sub-pipelines on $documents, $out/$merge constraints,
# rank-style window functions, other window functions, stages a pymongo user may call
# =============================================================================================


def test_lookup_with_documents_sub_pipeline_and_no_from(db):
    # $documents page, "Use a $documents Stage in a $lookup Stage": no "from" field
    coll = load(db, "locations", [{"_id": 1, "zip": 94301, "name": "Palo Alto"}, {"_id": 2, "zip": 10019, "name": "New York"}])
    out = run(coll, [{"$match": {}}, {"$lookup": {
        "localField": "zip", "foreignField": "zip_id", "as": "city_state",
        "pipeline": [{"$documents": [{"zip_id": 94301, "name": "Palo Alto, CA"}, {"zip_id": 10019, "name": "New York, NY"}]}],
    }}])
    assert out == [
        {"_id": 1, "zip": 94301, "name": "Palo Alto", "city_state": [{"zip_id": 94301, "name": "Palo Alto, CA"}]},
        {"_id": 2, "zip": 10019, "name": "New York", "city_state": [{"zip_id": 10019, "name": "New York, NY"}]},
    ]


def test_union_with_documents_and_no_coll(db):
    # $unionWith page: "coll ... If you omit the coll field, you must specify a pipeline field with a
    # first stage of $documents."
    coll = load(db, "c", [{"_id": 1, "x": 1}])
    out = run(coll, [{"$unionWith": {"pipeline": [{"$documents": [{"x": 2}, {"x": 3}]}]}}])
    assert out == [{"_id": 1, "x": 1}, {"x": 2}, {"x": 3}]


def test_out_keeps_existing_indexes(db):
    # $out page, "Replace Existing Collection": "The $out operation does not change any indexes
    # that existed on the previous collection."
    src = load(db, "src", [{"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
    load(db, "dst", [{"_id": "old", "a": 5}])
    db["dst"].create_index("a", unique=True, name="a_unique")
    run(src, [{"$out": "dst"}])
    assert sorted(d["_id"] for d in db["dst"].find()) == [1, 2]
    assert "a_unique" in [ix["name"] for ix in db["dst"].list_indexes()]


def test_out_fails_on_unique_index_violation_and_keeps_old_collection(db):
    # $out page, "Index Constraints": the pipeline fails if its documents would violate a unique
    # index of the original output collection; "If the aggregation fails, the $out operation makes
    # no changes to the pre-existing collection."
    src = load(db, "src", [{"_id": 1, "a": 1}, {"_id": 2, "a": 1}])
    load(db, "dst", [{"_id": "old", "a": 5}])
    db["dst"].create_index("a", unique=True)
    with pytest.raises(OperationFailure):
        run(src, [{"$out": "dst"}])
    assert list(db["dst"].find()) == [{"_id": "old", "a": 5}]


def test_out_fails_on_duplicate_id(db):
    src = load(db, "src", [{"_id": 1, "a": 1}, {"_id": 2, "a": 1}])
    load(db, "dst", [{"_id": "old"}])
    with pytest.raises(OperationFailure):
        run(src, [{"$project": {"_id": "$a"}}, {"$out": "dst"}])
    assert list(db["dst"].find()) == [{"_id": "old"}]


def test_merge_on_field_requires_unique_index(db):
    # $merge page, "on": "$merge requires a unique index with keys that correspond to the on
    # identifier fields ... For output collections that already exist, the corresponding index
    # must already exist." and "If the output collection does not exist, the on identifier must be
    # and defaults to the _id field."
    src = load(db, "src", [{"_id": 1, "k": 1}, {"_id": 2, "k": 2}])
    load(db, "existing", [{"_id": 100, "k": 1, "v": "old"}])
    with pytest.raises(OperationFailure):
        run(src, [{"$project": {"_id": 0, "k": 1}}, {"$merge": {"into": "existing", "on": "k"}}])
    assert list(db["existing"].find()) == [{"_id": 100, "k": 1, "v": "old"}]
    with pytest.raises(OperationFailure):
        run(src, [{"$project": {"_id": 0, "k": 1}}, {"$merge": {"into": "doesNotExist", "on": "k"}}])


def test_merge_on_field_with_unique_index(db):
    # $merge page: with the unique index in place, "on" matches by that field; results without _id
    # get a generated one when inserted
    src = load(db, "src", [{"_id": 1, "k": 1}, {"_id": 2, "k": 2}])
    load(db, "existing", [{"_id": 100, "k": 1, "v": "old"}])
    db["existing"].create_index("k", unique=True)
    run(src, [{"$project": {"_id": 0, "k": 1, "v": "new"}}, {"$merge": {"into": "existing", "on": "k"}}])
    got = {d["k"]: d for d in db["existing"].find()}
    assert got[1] == {"_id": 100, "k": 1, "v": "new"}
    assert got[2]["v"] == "new" and isinstance(got[2]["_id"], ObjectId)


def test_merge_on_field_cannot_be_null(db):
    # $merge page, "on": "The specified field or fields cannot contain a null or an array value."
    src = load(db, "src", [{"_id": 1, "k": None}])
    load(db, "existing", [{"_id": 100, "k": 5}])
    db["existing"].create_index("k", unique=True)
    with pytest.raises(OperationFailure):
        run(src, [{"$project": {"_id": 0, "k": 1}}, {"$merge": {"into": "existing", "on": "k"}}])


def test_merge_replace_cannot_change_id(db):
    # $merge page, whenMatched "replace": "the replacement document cannot result in a modification
    # of the _id value ... Otherwise, the operation generates an error."
    src = load(db, "src", [{"_id": 1, "k": 7, "v": "new"}])
    load(db, "existing", [{"_id": 5, "k": 7, "v": "old"}])
    db["existing"].create_index("k", unique=True)
    with pytest.raises(OperationFailure):
        run(src, [{"$merge": {"into": "existing", "on": "k", "whenMatched": "replace"}}])
    assert list(db["existing"].find()) == [{"_id": 5, "k": 7, "v": "old"}]


CAKE_SALES_WITH_DUPLICATES = [  # $rank page, "Rank Partitions Containing Duplicate Values, Nulls, or Missing Data"
    {"_id": 0, "state": "CA", "quantity": 120}, {"_id": 1, "state": "WA", "quantity": 140},
    {"_id": 2, "state": "CA", "quantity": 145}, {"_id": 3, "state": "WA", "quantity": 104},
    {"_id": 4, "state": "CA", "quantity": 162}, {"_id": 5, "state": "WA", "quantity": 134},
    {"_id": 6, "state": "WA", "quantity": 134}, {"_id": 7, "state": "WA", "quantity": 134},
    {"_id": 8, "state": "WA", "quantity": 134}, {"_id": 9, "state": "CA", "quantity": 162},
    {"_id": 10, "state": "CA", "quantity": None}, {"_id": 11, "state": "CA"},
]


def test_window_rank_with_duplicates_nulls_and_missing(db):
    coll = load(db, "cakeSalesWithDuplicates", CAKE_SALES_WITH_DUPLICATES)
    out = by_id(run(coll, [{"$setWindowFields": {"partitionBy": "$state", "sortBy": {"quantity": -1},
                                                 "output": {"r": {"$rank": {}}, "d": {"$denseRank": {}}}}}]))
    assert {i: d["r"] for i, d in out.items()} == {4: 1, 9: 1, 2: 3, 0: 4, 10: 5, 11: 5, 1: 1, 5: 2, 6: 2, 7: 2, 8: 2, 3: 6}
    assert {i: d["d"] for i, d in out.items()} == {4: 1, 9: 1, 2: 2, 0: 3, 10: 4, 11: 4, 1: 1, 5: 2, 6: 2, 7: 2, 8: 2, 3: 3}


def test_window_rank_needs_single_sort_field(db):
    # $rank page: "When used with the $rank operator, sortBy can only take one field as its value."
    coll = load(db, "cakeSales", CAKE_SALES)
    with pytest.raises(OperationFailure):
        run(coll, [{"$setWindowFields": {"sortBy": {"state": 1, "quantity": -1}, "output": {"r": {"$rank": {}}}}}])


def test_window_derivative_and_integral(db):
    # $derivative / $integral pages: rate of change and trapezoidal-rule area over a time range
    coll = load(db, "meter", [
        {"_id": 1, "t": D(2020, 5, 18, 14), "kw": 1},
        {"_id": 2, "t": D(2020, 5, 18, 15), "kw": 3},
        {"_id": 3, "t": D(2020, 5, 18, 16), "kw": 5},
    ])
    out = run(coll, [{"$setWindowFields": {"sortBy": {"t": 1}, "output": {
        "rate": {"$derivative": {"input": "$kw", "unit": "hour"}, "window": {"range": [-1, 0], "unit": "hour"}},
        "kwh": {"$integral": {"input": "$kw", "unit": "hour"}, "window": {"range": ["unbounded", "current"], "unit": "hour"}},
    }}}])
    assert [d["rate"] for d in out] == [None, 2, 2]
    assert [d["kwh"] for d in out] == [0, 2, 6]


def test_window_covariance(db):
    coll = load(db, "c", [{"_id": i, "x": i, "y": 2 * i} for i in (1, 2, 3)])
    out = run(coll, [{"$setWindowFields": {"sortBy": {"_id": 1}, "output": {
        "pop": {"$covariancePop": ["$x", "$y"], "window": {"documents": ["unbounded", "unbounded"]}},
        "samp": {"$covarianceSamp": ["$x", "$y"], "window": {"documents": ["unbounded", "unbounded"]}},
    }}}])
    assert [d["pop"] for d in out] == pytest.approx([4 / 3] * 3)
    assert [d["samp"] for d in out] == pytest.approx([2.0] * 3)


def test_window_linear_fill(db):
    # $linearFill page: same interpolation as $fill's "linear" method
    coll = load(db, "stock", [
        {"_id": 1, "time": D(2021, 3, 8, 9), "price": 500},
        {"_id": 2, "time": D(2021, 3, 8, 10)},
        {"_id": 3, "time": D(2021, 3, 8, 11), "price": 515},
        {"_id": 4, "time": D(2021, 3, 8, 12)},
        {"_id": 5, "time": D(2021, 3, 8, 13)},
        {"_id": 6, "time": D(2021, 3, 8, 14), "price": 485},
    ])
    out = run(coll, [{"$setWindowFields": {"sortBy": {"time": 1}, "output": {"price": {"$linearFill": "$price"}}}}])
    assert [d["price"] for d in out] == [500, 507.5, 515, 505, 495, 485]


def test_window_locf_operator(db):
    coll = load(db, "c", [{"_id": 1, "v": 1}, {"_id": 2}, {"_id": 3, "v": None}, {"_id": 4, "v": 4}])
    out = run(coll, [{"$setWindowFields": {"sortBy": {"_id": 1}, "output": {"filled": {"$locf": "$v"}}}}])
    assert [d["filled"] for d in out] == [1, 1, 1, 4]


def test_densify_dates_step_by_month(db):
    # $densify page: "step: The amount to increment the field value in each document" (each new
    # date is the previous one plus one month, as $dateAdd does)
    coll = load(db, "c", [{"_id": 1, "t": D(2021, 1, 31)}, {"_id": 2, "t": D(2021, 5, 1)}])
    out = run(coll, [{"$densify": {"field": "t", "range": {"step": 1, "unit": "month", "bounds": "full"}}}, {"$sort": {"t": 1}}])
    assert [d["t"] for d in out] == [D(2021, 1, 31), D(2021, 2, 28), D(2021, 3, 28), D(2021, 4, 28), D(2021, 5, 1)]


def test_densify_explicit_numeric_bounds(db):
    # $densify page, "range.bounds Behavior": lower bound inclusive, upper exclusive, documents
    # outside the bounds are kept, documents without the field pass through
    coll = load(db, "c", [{"_id": 1, "x": 2}, {"_id": 2, "x": 10}, {"_id": 3}])
    out = run(coll, [{"$densify": {"field": "x", "range": {"step": 3, "bounds": [0, 7]}}}])
    assert sorted(d["x"] for d in out if "x" in d) == [0, 2, 3, 6, 10]
    assert {"_id": 3} in out
    assert {"x": 0} in out and {"x": 3} in out and {"x": 6} in out


def test_percentile_and_median_accumulators(db):
    # $percentile page, testScores example
    coll = load(db, "testScores", [
        {"studentId": "2345", "test01": 62, "test02": 81, "test03": 80},
        {"studentId": "2356", "test01": 60, "test02": 83, "test03": 79},
        {"studentId": "2358", "test01": 67, "test02": 82, "test03": 78},
        {"studentId": "2367", "test01": 64, "test02": 72, "test03": 77},
        {"studentId": "2369", "test01": 60, "test02": 53, "test03": 72},
    ])
    out = run(coll, [{"$group": {"_id": None,
                                 "test01_percentiles": {"$percentile": {"input": "$test01", "p": [0.5, 0.75, 0.9, 0.95], "method": "approximate"}},
                                 "test01_median": {"$median": {"input": "$test01", "method": "approximate"}}}}])
    assert out[0]["test01_percentiles"] == [62, 64, 67, 67]
    assert out[0]["test01_median"] == 62


def test_sort_on_array_fields(db):
    # BSON comparison order page: ascending sorts compare the smallest element, descending the
    # largest; an empty array sorts before null/missing
    coll = load(db, "c", [{"_id": 1, "a": [1, 5]}, {"_id": 2, "a": [2, 3]}, {"_id": 3, "a": []}, {"_id": 4}])
    assert [d["_id"] for d in run(coll, [{"$sort": {"a": 1}}])] == [3, 4, 1, 2]
    assert [d["_id"] for d in run(coll, [{"$sort": {"a": -1}}])] == [1, 2, 4, 3]


def test_add_fields_and_project_through_arrays(db):
    # $addFields page, "Adding Fields to an Embedded Document" / $project on embedded fields: a
    # dotted path applies to every document of an array
    coll = load(db, "c", [{"_id": 1, "a": [{"x": 1, "z": 1}, {"x": 2, "z": 2}]}])
    assert run(coll, [{"$addFields": {"a.y": "new"}}]) == [{"_id": 1, "a": [{"x": 1, "z": 1, "y": "new"}, {"x": 2, "z": 2, "y": "new"}]}]
    assert run(coll, [{"$project": {"a.x": 1}}]) == [{"_id": 1, "a": [{"x": 1}, {"x": 2}]}]
    assert run(coll, [{"$project": {"a.x": 0}}]) == [{"_id": 1, "a": [{"z": 1}, {"z": 2}]}]
    assert run(coll, [{"$unset": "a.z"}]) == [{"_id": 1, "a": [{"x": 1}, {"x": 2}]}]


def test_lookup_foreign_field_array_and_graph_lookup_array_start(db):
    # $lookup: an array foreignField matches when any element equals the local value;
    # $graphLookup: startWith may be an array, maxDepth 0 is a non-recursive lookup
    coll = load(db, "c", [{"_id": 1, "tags": ["a", "b"], "x": 1}, {"_id": 2, "tags": ["c"], "x": 2}, {"_id": 3, "x": 3}])
    out = run(coll, [{"$lookup": {"from": "c", "localField": "x", "foreignField": "x", "as": "j"}},
                     {"$project": {"j": "$j._id"}}])
    assert out == [{"_id": 1, "j": [1]}, {"_id": 2, "j": [2]}, {"_id": 3, "j": [3]}]
    load(db, "tagdocs", [{"_id": 10, "t": "a"}, {"_id": 11, "t": "c"}, {"_id": 12, "t": "b"}])
    out = run(db["tagdocs"], [{"$lookup": {"from": "c", "localField": "t", "foreignField": "tags", "as": "j"}},
                              {"$project": {"j": "$j._id"}}])
    assert out == [{"_id": 10, "j": [1]}, {"_id": 11, "j": [2]}, {"_id": 12, "j": [1]}]
    out = run(coll, [{"$match": {"_id": 1}},
                     {"$graphLookup": {"from": "c", "startWith": [1, 3], "connectFromField": "x", "connectToField": "x",
                                       "as": "g", "maxDepth": 0}}])
    assert sorted(d["_id"] for d in out[0]["g"]) == [1, 3]


def test_aggregate_cursor_batches_and_options(db):
    coll = load(db, "c", [{"_id": i} for i in range(10)])
    cursor = coll.aggregate([{"$sort": {"_id": -1}}], batchSize=3, allowDiskUse=True, comment="conf", maxTimeMS=10000)
    assert [d["_id"] for d in cursor] == list(range(9, -1, -1))
    reply = db.command("aggregate", "c", pipeline=[{"$match": {"_id": {"$lt": 5}}}], cursor={"batchSize": 2})
    assert reply["ok"] == 1 and len(reply["cursor"]["firstBatch"]) == 2
    with pytest.raises(OperationFailure):  # the command form requires a cursor option
        db.command("aggregate", "c", pipeline=[])


def test_facet_on_empty_input(db):
    coll = db["empty"]
    assert run(coll, [{"$facet": {"n": [{"$count": "n"}], "all": [{"$match": {}}]}}]) == [{"n": [], "all": []}]
    assert run(coll, [{"$group": {"_id": None, "n": {"$sum": 1}}}]) == []


def test_coll_stats_and_index_stats_stages(db):
    # $collStats / $indexStats pages
    coll = load(db, "c", [{"_id": i, "x": i} for i in range(5)])
    coll.create_index("x")
    out = run(coll, [{"$collStats": {"count": {}}}])
    assert len(out) == 1 and out[0]["count"] == 5 and out[0]["ns"] == "conf_aggregate.c"
    names = sorted(d["name"] for d in run(coll, [{"$indexStats": {}}]))
    assert names == ["_id_", "x_1"]


def test_match_sample_rate(db):
    # $sampleRate page: a $match query operator selecting a random fraction (1.0: all, 0: none)
    coll = load(db, "c", [{"_id": i} for i in range(20)])
    assert run(coll, [{"$match": {"$sampleRate": 1.0}}, {"$count": "n"}]) == [{"n": 20}]
    assert len(run(coll, [{"$match": {"$sampleRate": 0.5}}])) <= 20


# =============================================================================================
# Expression operators. Table-driven: each test evaluates many (expression, expected) rows and
# reports every row that differs, so one wrong row does not hide the others.
# =============================================================================================


def check(db, cases, doc=None, with_kind=False):
    """Evaluate each (expr, expected[, expected_kind]) row; return the rows that differ."""
    failures = []
    for case in cases:
        expr, expected = case[0], case[1]
        try:
            got = ev(db, expr, doc)
        except OperationFailure as e:
            failures.append((expr, expected, f"OperationFailure: {e}"[:160]))
            continue
        if got != expected or (expected is not MISSING and got is MISSING):
            failures.append((expr, expected, got))
        elif len(case) > 2 and kind(got) != case[2]:
            failures.append((expr, case[2], kind(got)))
    return failures


def check_errors(db, exprs, doc=None):
    """Each expression must fail with OperationFailure; return the ones that did not."""
    failures = []
    for expr in exprs:
        try:
            got = ev(db, expr, doc)
        except OperationFailure:
            continue
        failures.append((expr, got))
    return failures


def test_arithmetic_results_and_types(db):
    # $add/$subtract/$multiply/$divide/$mod/$abs/$ceil/$floor/$sqrt/$pow/$exp/$ln/$log/$log10 pages:
    # integer results stay integers (int32 overflow widens to long), $divide returns a double,
    # null or missing operands give null
    assert check(db, [
        ({"$add": [1, 2]}, 3, "int"),
        ({"$add": [2147483647, 1]}, 2147483648, "long"),
        ({"$add": [1, 2.5]}, 3.5, "double"),
        ({"$add": [1, None]}, None),
        ({"$add": [1, "$missing"]}, None),
        ({"$subtract": [5, 7]}, -2, "int"),
        ({"$multiply": [2147483647, 2]}, 4294967294, "long"),
        ({"$multiply": [2, 3, 4]}, 24, "int"),
        ({"$divide": [10, 4]}, 2.5, "double"),
        ({"$divide": [10, 5]}, 2.0, "double"),
        ({"$mod": [80, 7]}, 3, "int"),
        ({"$mod": [-10, 3]}, -1, "int"),
        ({"$mod": [5.5, 2]}, 1.5, "double"),
        ({"$abs": -5}, 5, "int"),
        ({"$abs": None}, None),
        ({"$ceil": 1.1}, 2.0, "double"),
        ({"$ceil": -1.1}, -1.0, "double"),
        ({"$floor": -1.1}, -2.0, "double"),
        ({"$floor": 7}, 7, "int"),
        ({"$sqrt": 25}, 5.0, "double"),
        ({"$pow": [5, 0]}, 1, "int"),
        ({"$pow": [2, 10]}, 1024, "int"),
        ({"$pow": [2, -1]}, 0.5, "double"),
        ({"$exp": 0}, 1.0, "double"),
        ({"$ln": 1}, 0.0, "double"),
        ({"$log": [100, 10]}, 2.0, "double"),
        ({"$log10": 1000}, 3.0, "double"),
    ], with_kind=True) == []


def test_arithmetic_with_dates(db):
    doc = {"date": D(2014, 3, 1, 8), "end": D(2014, 3, 1, 9)}
    assert ev(db, {"$add": ["$date", 3 * 24 * 60 * 60000]}, doc) == D(2014, 3, 4, 8)
    assert ev(db, {"$subtract": ["$date", 5 * 60 * 1000]}, doc) == D(2014, 3, 1, 7, 55)
    diff = ev(db, {"$subtract": ["$end", "$date"]}, doc)
    assert diff == 3600000 and kind(diff) == "long"
    with pytest.raises(OperationFailure):
        ev(db, {"$add": ["$date", "$end"]}, doc)  # only one date may be added


def test_arithmetic_errors(db):
    assert check_errors(db, [
        {"$divide": ["$a", "$zero"]},
        {"$mod": ["$a", "$zero"]},
        {"$sqrt": "$neg"},
        {"$ln": "$zero"},
        {"$log10": "$neg"},
        {"$log": ["$a", 1]},
        {"$pow": ["$zero", "$neg"]},
        {"$add": ["$a", "$s"]},
        {"$multiply": ["$a", "$s"]},
        {"$subtract": ["$a", "$s"]},
        {"$abs": "$s"},
    ], {"a": 10, "zero": 0, "neg": -1, "s": "x"}) == []


def test_round_and_trunc(db):
    # $round / $trunc pages ("samples" collection) and "Round to Even" behaviour
    vals = [19.25, 28.73, 34.32, -45.39]
    assert [ev(db, {"$round": ["$v", 1]}, {"v": v}) for v in vals] == [19.2, 28.7, 34.3, -45.4]
    assert [ev(db, {"$round": ["$v", -1]}, {"v": v}) for v in vals] == [20, 30, 30, -50]
    assert [ev(db, {"$round": ["$v", 0]}, {"v": v}) for v in vals] == [19, 29, 34, -45]
    assert [ev(db, {"$trunc": ["$v", 1]}, {"v": v}) for v in vals] == [19.2, 28.7, 34.3, -45.3]
    assert [ev(db, {"$trunc": ["$v", -1]}, {"v": v}) for v in vals] == [10, 20, 30, -40]
    assert [ev(db, {"$trunc": "$v"}, {"v": v}) for v in vals] == [19, 28, 34, -45]
    assert [ev(db, {"$round": "$v"}, {"v": v}) for v in [10.5, 11.5, 12.5, -12.5]] == [10, 12, 12, -12]
    r = ev(db, {"$round": [1234, -2]})
    assert r == 1200 and kind(r) == "int"
    assert ev(db, {"$round": ["$nope", 1]}) is None
    d = ev(db, {"$round": [Decimal128("1.25"), 1]})
    assert kind(d) == "decimal"


def test_sum_avg_min_max_expressions(db):
    # $sum/$avg/$max/$min pages, "Use in $project stage": one array operand is traversed, several
    # operands are not; non-numeric values are ignored
    doc = {"arr": [1, 2, 3], "x": 4}
    assert check(db, [
        ({"$sum": "$arr"}, 6),
        ({"$sum": ["$arr", "$x"]}, 4),
        ({"$avg": "$arr"}, 2.0),
        ({"$avg": ["$arr", "$x"]}, 4.0),
        ({"$max": "$arr"}, 3),
        ({"$min": [5, None, "$x"]}, 4),
        ({"$max": ["$nope", None]}, None),
        ({"$sum": "$nope"}, 0),
        ({"$avg": [[]]}, None),
        ({"$stdDevPop": [[1, 2, 3, 4]]}, math.sqrt(1.25)),
        ({"$median": {"input": [10, 20, 30, 40, 50], "method": "approximate"}}, 30.0),
        ({"$percentile": {"input": [10, 20, 30, 40, 50], "p": [0.5, 0.9], "method": "approximate"}}, [30.0, 50.0]),
    ], doc) == []


def test_comparison_and_boolean(db):
    # $cmp/$eq/$gt/... compare by BSON order across types; $and/$or/$not truthiness (null, 0,
    # false and missing are false; arrays, even [false], are true)
    assert check(db, [
        ({"$cmp": [1, 2]}, -1),
        ({"$cmp": [2, 2.0]}, 0),
        ({"$cmp": ["a", 1]}, 1),
        ({"$eq": [1, 1.0]}, True),
        ({"$eq": [1, "1"]}, False),
        ({"$eq": ["$nope", None]}, False),
        ({"$gt": ["a", 100]}, True),
        ({"$lt": [None, 0]}, True),
        ({"$ne": [[1, 2], [1, 2]]}, False),
        ({"$gte": [{"a": 1}, {"a": 1}]}, True),
        ({"$and": [1, "green"]}, True),
        ({"$and": [1, 0]}, False),
        ({"$and": []}, True),
        ({"$or": [None, 0, False]}, False),
        ({"$or": [[False]]}, True),
        ({"$not": [[False]]}, False),
        ({"$not": [None]}, True),
        ({"$not": [0]}, True),
    ]) == []


def test_cond_if_null_switch(db):
    assert ev(db, {"$cond": {"if": {"$gte": ["$qty", 250]}, "then": 30, "else": 20}}, {"qty": 300}) == 30
    assert ev(db, {"$cond": [{"$gte": ["$qty", 250]}, 30, 20]}, {"qty": 200}) == 20
    assert ev(db, {"$ifNull": ["$description", "Unspecified"]}, {"description": None}) == "Unspecified"
    assert ev(db, {"$ifNull": ["$description", "Unspecified"]}, {"description": "x"}) == "x"
    assert ev(db, {"$ifNull": ["$a", "$b", "$c", "last"]}, {"a": None, "c": 3}) == 3
    assert ev(db, {"$ifNull": ["$a", None]}) is None
    switch = {"$switch": {"branches": [
        {"case": {"$gte": [{"$avg": "$scores"}, 90]}, "then": "Doing great!"},
        {"case": {"$and": [{"$gte": [{"$avg": "$scores"}, 80]}, {"$lt": [{"$avg": "$scores"}, 90]}]}, "then": "Doing pretty well."},
        {"case": {"$lt": [{"$avg": "$scores"}, 80]}, "then": "Needs improvement."},
    ], "default": "No scores found."}}
    assert ev(db, switch, {"scores": [87, 86, 78]}) == "Doing pretty well."
    assert ev(db, switch, {"scores": [71, 64, 81]}) == "Needs improvement."
    assert ev(db, switch, {"scores": [91, 84, 97]}) == "Doing great!"
    default_only = {"$switch": {"branches": [{"case": {"$eq": ["$a", 1]}, "then": "one"}], "default": "other"}}
    assert ev(db, default_only, {"a": 2}) == "other"
    with pytest.raises(OperationFailure):  # no matching branch and no default
        ev(db, {"$switch": {"branches": [{"case": {"$eq": ["$a", 1]}, "then": "one"}]}}, {"a": 2})


def test_string_operators(db):
    assert check(db, [
        ({"$concat": ["abc", "-", "def"]}, "abc-def"),
        ({"$concat": ["abc", None]}, None),
        ({"$concat": ["abc", "$nope"]}, None),
        ({"$toUpper": "abc"}, "ABC"),
        ({"$toLower": "ABC1"}, "abc1"),
        ({"$toUpper": None}, ""),
        ({"$toLower": "$nope"}, ""),
        ({"$substrCP": ["abcde", 1, 2]}, "bc"),
        ({"$substrCP": ["寿司sushi", 0, 3]}, "寿司s"),
        ({"$substrBytes": ["cafétéria", 0, 5]}, "café"),
        ({"$substrBytes": ["abcde", 1, -1]}, "bcde"),
        ({"$strLenCP": "cafétéria"}, 9),
        ({"$strLenBytes": "cafétéria"}, 11),
        ({"$strLenBytes": "寿司"}, 6),
        ({"$split": ["June-15-2013", "-"]}, ["June", "15", "2013"]),
        ({"$split": ["a,b,", ","]}, ["a", "b", ""]),
        ({"$split": [None, "-"]}, None),
        ({"$indexOfCP": ["cafétéria", "é"]}, 3),
        ({"$indexOfCP": ["cafétéria", "r"]}, 6),
        ({"$indexOfBytes": ["cafétéria", "r"]}, 8),
        ({"$indexOfCP": ["abcabc", "b", 2]}, 4),
        ({"$indexOfCP": ["abc", "z"]}, -1),
        ({"$indexOfCP": [None, "z"]}, None),
        ({"$strcasecmp": ["Hello", "hello"]}, 0),
        ({"$strcasecmp": ["a", "B"]}, -1),
        ({"$trim": {"input": " \n good  bye \t "}}, "good  bye"),
        ({"$ltrim": {"input": "  x  "}}, "x  "),
        ({"$rtrim": {"input": "xxhixx", "chars": "x"}}, "xxhi"),
        ({"$trim": {"input": "ababcba", "chars": "ab"}}, "c"),
        ({"$replaceOne": {"input": "blue paint with blue paintbrush", "find": "blue paint", "replacement": "red paint"}},
         "red paint with blue paintbrush"),
        ({"$replaceAll": {"input": "blue paint with blue paintbrush", "find": "blue paint", "replacement": "red paint"}},
         "red paint with red paintbrush"),
        ({"$replaceAll": {"input": None, "find": "a", "replacement": "b"}}, None),
        ({"$toString": 2.5}, "2.5"),
        ({"$toString": 42}, "42"),
        ({"$toString": True}, "true"),
    ]) == []


def test_string_conversions_of_dates_and_ids(db):
    doc = {"d": D(2018, 3, 27, 16, 58, 51, 538000), "o": ObjectId("5ab9cbfa31c2ab715d42129e")}
    assert ev(db, {"$toString": "$d"}, doc) == "2018-03-27T16:58:51.538Z"
    assert ev(db, {"$toString": "$o"}, doc) == "5ab9cbfa31c2ab715d42129e"


def test_string_errors(db):
    assert check_errors(db, [
        {"$concat": ["a", "$n"]},
        {"$substrBytes": ["cafétéria", 0, 4]},  # ends inside a UTF-8 sequence
        {"$substrCP": ["abc", -1, 2]},
        {"$split": ["$n", "-"]},
        {"$split": ["abc", ""]},
        {"$strLenCP": "$n"},
        {"$strLenBytes": "$nope"},
        {"$indexOfCP": ["abc", "$n"]},
        {"$trim": {"input": "$n"}},
        {"$regexMatch": {"input": "$n", "regex": "a"}},
    ], {"n": 5}) == []


def test_regex_operators(db):
    doc = {"description": "Single LINE description.", "s": "abc123def45", "u": "寿司 sushi"}
    assert ev(db, {"$regexMatch": {"input": "$description", "regex": "line"}}, doc) is False
    assert ev(db, {"$regexMatch": {"input": "$description", "regex": "line", "options": "i"}}, doc) is True
    assert ev(db, {"$regexFind": {"input": "$description", "regex": "line", "options": "i"}}, doc) == {
        "match": "LINE", "idx": 7, "captures": []}
    assert ev(db, {"$regexFind": {"input": "$description", "regex": "zzz"}}, doc) is None
    assert ev(db, {"$regexFindAll": {"input": "$s", "regex": "([a-z]+)(\\d+)"}}, doc) == [
        {"match": "abc123", "idx": 0, "captures": ["abc", "123"]},
        {"match": "def45", "idx": 6, "captures": ["def", "45"]},
    ]
    assert ev(db, {"$regexFind": {"input": "$u", "regex": "sushi"}}, doc)["idx"] == 3  # code points
    assert ev(db, {"$regexFindAll": {"input": "$nope", "regex": "a"}}, doc) == []
    assert ev(db, {"$regexMatch": {"input": "$description", "regex": nestdb.Regex("^single", "i")}}, doc) is True
    assert ev(db, {"$regexMatch": {"input": "a\nb", "regex": "^b", "options": "m"}}) is True


def test_array_operators(db):
    assert check(db, [
        ({"$arrayElemAt": [[1, 2, 3], 0]}, 1),
        ({"$arrayElemAt": [[1, 2, 3], -1]}, 3),
        ({"$arrayElemAt": [[1, 2, 3], 15]}, MISSING),
        ({"$arrayElemAt": ["$nope", 0]}, None),
        ({"$first": [[1, 2, 3]]}, 1),
        ({"$last": [[1, 2, 3]]}, 3),
        ({"$first": [[]]}, MISSING),
        ({"$first": [None]}, None),
        ({"$concatArrays": [[1], [2, 3], []]}, [1, 2, 3]),
        ({"$concatArrays": [[1], None]}, None),
        ({"$size": [[1, [2, 3]]]}, 2),
        ({"$isArray": [[1]]}, True),
        ({"$isArray": ["a"]}, False),
        ({"$in": ["abc", ["xyz", "abc"]]}, True),
        ({"$in": [[1], [1, 2]]}, False),
        ({"$in": [2, [1, 2.0]]}, True),
        ({"$indexOfArray": [["a", "abc", "b"], "b"]}, 2),
        ({"$indexOfArray": [[1, 2, 3, 2], 2, 2]}, 3),
        ({"$indexOfArray": [[1, 2, 3], 5]}, -1),
        ({"$indexOfArray": [None, 5]}, None),
        ({"$reverseArray": [[1, 2, 3]]}, [3, 2, 1]),
        ({"$reverseArray": [None]}, None),
        ({"$slice": [[1, 2, 3], 1, 1]}, [2]),
        ({"$slice": [[1, 2, 3], -2]}, [2, 3]),
        ({"$slice": [[1, 2, 3], 15, 2]}, []),
        ({"$slice": [[1, 2, 3], -5, 2]}, [1, 2]),
        ({"$range": [0, 10, 2]}, [0, 2, 4, 6, 8]),
        ({"$range": [10, 0, -2]}, [10, 8, 6, 4, 2]),
        ({"$range": [0, 10, -1]}, []),
        ({"$range": [0, 5]}, [0, 1, 2, 3, 4]),
        ({"$zip": {"inputs": [[1, 2, 3], ["a", "b"]]}}, [[1, "a"], [2, "b"]]),
        ({"$zip": {"inputs": [[1, 2, 3], ["a", "b"]], "useLongestLength": True}}, [[1, "a"], [2, "b"], [3, None]]),
        ({"$zip": {"inputs": [[1, 2, 3], ["a", "b"]], "useLongestLength": True, "defaults": [0, "z"]}},
         [[1, "a"], [2, "b"], [3, "z"]]),
        ({"$zip": {"inputs": [[1], None]}}, None),
        ({"$firstN": {"n": 2, "input": [1, 2, 3]}}, [1, 2]),
        ({"$lastN": {"n": 2, "input": [1, 2, 3]}}, [2, 3]),
        ({"$maxN": {"n": 2, "input": [None, 2, 3, 1]}}, [3, 2]),
        ({"$minN": {"n": 3, "input": [None, 2, 3, 1]}}, [1, 2, 3]),
        ({"$sortArray": {"input": [20, 4, {"a": "Free"}, 6, 21, 5, "Gratis", {"a": None}, {"a": {"sale": True, "price": 19}},
                                   10.23, {"a": "On sale"}], "sortBy": 1}},
         [4, 5, 6, 10.23, 20, 21, "Gratis", {"a": None}, {"a": "Free"}, {"a": "On sale"}, {"a": {"sale": True, "price": 19}}]),
        ({"$sortArray": {"input": [{"n": "pat", "age": 30}, {"n": "dallas", "age": 36}, {"n": "charlie", "age": 42}],
                         "sortBy": {"age": -1}}},
         [{"n": "charlie", "age": 42}, {"n": "dallas", "age": 36}, {"n": "pat", "age": 30}]),
        ({"$allElementsTrue": [[True, 1, "someString"]]}, True),
        ({"$allElementsTrue": [[]]}, True),
        ({"$allElementsTrue": [[None, False, 0]]}, False),
        ({"$anyElementTrue": [[None, False, 0, 1]]}, True),
        ({"$anyElementTrue": [[]]}, False),
    ]) == []


def test_array_errors(db):
    # $size of a non-array (or missing) errors; $in's second operand must be an array; ...
    assert check_errors(db, [
        {"$size": "$n"},
        {"$size": "$nope"},
        {"$arrayElemAt": ["$n", 0]},
        {"$in": [1, "$n"]},
        {"$in": [1, "$nope"]},
        {"$concatArrays": [[1], "$n"]},
        {"$range": [0, 1.5]},
        {"$range": [0, 5, 0]},
        {"$reverseArray": "$n"},
        {"$slice": ["$n", 1]},
        {"$indexOfArray": ["$n", 1]},
        {"$first": "$n"},
        {"$zip": {"inputs": ["$n"]}},
        {"$filter": {"input": "$n", "cond": True}},
        {"$map": {"input": "$n", "in": "$$this"}},
        {"$setUnion": [[1], "$n"]},
        {"$allElementsTrue": ["$n"]},
    ], {"n": 5}) == []


def test_filter(db):
    coll = load(db, "sales", [
        {"_id": 0, "items": [{"item_id": 43, "quantity": 2, "price": 10}, {"item_id": 2, "quantity": 1, "price": 240}]},
        {"_id": 1, "items": [{"item_id": 23, "quantity": 3, "price": 110}, {"item_id": 103, "quantity": 4, "price": 5},
                             {"item_id": 38, "quantity": 1, "price": 300}]},
        {"_id": 2, "items": [{"item_id": 4, "quantity": 1, "price": 23}]},
    ])
    out = run(coll, [{"$project": {"items": {"$filter": {"input": "$items", "as": "item", "cond": {"$gte": ["$$item.price", 100]}}}}}])
    assert [[i["item_id"] for i in d["items"]] for d in out] == [[2], [23, 38], []]
    out = run(coll, [{"$project": {"items": {"$filter": {"input": "$items", "cond": {"$gte": ["$$this.price", 100]}, "limit": 1}}}}])
    assert [[i["item_id"] for i in d["items"]] for d in out] == [[2], [23], []]
    assert ev(db, {"$filter": {"input": "$nope", "cond": True}}) is None


def test_map_and_reduce(db):
    assert check(db, [
        ({"$map": {"input": [5, 6, 7], "as": "grade", "in": {"$add": ["$$grade", 2]}}}, [7, 8, 9]),
        ({"$map": {"input": [1.5, 2.4], "in": {"$trunc": "$$this"}}}, [1, 2]),
        ({"$map": {"input": "$nope", "in": "$$this"}}, None),
        ({"$reduce": {"input": ["a", "b", "c"], "initialValue": "", "in": {"$concat": ["$$value", "$$this"]}}}, "abc"),
        ({"$reduce": {"input": [1, 2, 3, 4], "initialValue": {"sum": 5, "product": 2},
                      "in": {"sum": {"$add": ["$$value.sum", "$$this"]}, "product": {"$multiply": ["$$value.product", "$$this"]}}}},
         {"sum": 15, "product": 48}),
        ({"$reduce": {"input": [[3, 4], [5, 6]], "initialValue": [1, 2], "in": {"$concatArrays": ["$$value", "$$this"]}}},
         [1, 2, 3, 4, 5, 6]),
        ({"$reduce": {"input": "$nope", "initialValue": 0, "in": 1}}, None),
    ]) == []


def test_set_operators_manual_flowers(db):
    coll = load(db, "flowers", [
        {"_id": 1, "A": ["red", "blue"], "B": ["red", "blue"]},
        {"_id": 2, "A": ["red", "blue"], "B": ["blue", "red", "blue"]},
        {"_id": 3, "A": ["red", "blue"], "B": ["red", "blue", "green"]},
        {"_id": 4, "A": ["red", "blue"], "B": ["green", "red"]},
        {"_id": 5, "A": ["red", "blue"], "B": []},
        {"_id": 6, "A": ["red", "blue"], "B": [["red"], ["blue"]]},
        {"_id": 7, "A": ["red", "blue"], "B": [["red", "blue"]]},
        {"_id": 8, "A": [], "B": []},
        {"_id": 9, "A": [], "B": ["red"]},
    ])
    out = run(coll, [{"$project": {
        "eq": {"$setEquals": ["$A", "$B"]},
        "sub": {"$setIsSubset": ["$A", "$B"]},
        "diff": {"$setDifference": ["$B", "$A"]},
        "inter": {"$setIntersection": ["$A", "$B"]},
        "union": {"$setUnion": ["$A", "$B"]},
    }}])
    assert [d["eq"] for d in out] == [True, True, False, False, False, False, False, True, False]
    assert [d["sub"] for d in out] == [True, True, True, False, False, False, False, True, True]
    assert [as_set(d["diff"]) for d in out] == [as_set(x) for x in [
        [], [], ["green"], ["green"], [], [["red"], ["blue"]], [["red", "blue"]], [], ["red"]]]
    assert [as_set(d["inter"]) for d in out] == [as_set(x) for x in [
        ["red", "blue"], ["red", "blue"], ["red", "blue"], ["red"], [], [], [], [], []]]
    assert [as_set(d["union"]) for d in out] == [as_set(x) for x in [
        ["red", "blue"], ["red", "blue"], ["red", "blue", "green"], ["red", "blue", "green"], ["red", "blue"],
        ["red", "blue", ["red"], ["blue"]], ["red", "blue", ["red", "blue"]], [], ["red"]]]
    assert ev(db, {"$setUnion": [[1, 2], None]}) is None


def test_merge_objects_expression(db):
    assert ev(db, {"$mergeObjects": [{"a": 1}, None, {"b": 2}, {"a": 3}]}) == {"a": 3, "b": 2}
    assert ev(db, {"$mergeObjects": [None, "$nope"]}) == {}
    coll = load(db, "orders", [{"_id": 1, "item": "abc", "price": 12, "ordered": 2}])
    load(db, "items", [{"_id": 1, "item": "abc", "description": "product 1", "instock": 120}])
    out = run(coll, [
        {"$lookup": {"from": "items", "localField": "item", "foreignField": "item", "as": "fromItems"}},
        {"$replaceRoot": {"newRoot": {"$mergeObjects": [{"$arrayElemAt": ["$fromItems", 0]}, "$$ROOT"]}}},
        {"$project": {"fromItems": 0}},
    ])
    assert out == [{"_id": 1, "item": "abc", "description": "product 1", "instock": 120, "price": 12, "ordered": 2}]
    with pytest.raises(OperationFailure):
        ev(db, {"$mergeObjects": [{"a": 1}, "$n"]}, {"n": 5})


def test_object_to_array_and_back(db):
    doc = {"dimensions": {"l": 25, "w": 10, "uom": "cm"}, "pairs": [["item", "abc123"], ["qty", 25]],
           "kv": [{"k": "item", "v": "abc123"}, {"k": "qty", "v": 25}]}
    assert ev(db, {"$objectToArray": "$dimensions"}, doc) == [{"k": "l", "v": 25}, {"k": "w", "v": 10}, {"k": "uom", "v": "cm"}]
    assert ev(db, {"$objectToArray": {"a": {"b": 1}}}) == [{"k": "a", "v": {"b": 1}}]
    assert ev(db, {"$arrayToObject": "$pairs"}, doc) == {"item": "abc123", "qty": 25}
    assert ev(db, {"$arrayToObject": "$kv"}, doc) == {"item": "abc123", "qty": 25}
    assert ev(db, {"$objectToArray": "$nope"}, doc) is None
    # a repeated field name keeps the last value
    assert ev(db, {"$arrayToObject": {"$literal": [["price", 24], ["item", "apple"], ["price", 15]]}}) == {"price": 15, "item": "apple"}
    with pytest.raises(OperationFailure):
        ev(db, {"$arrayToObject": {"$literal": [["a"]]}})
    with pytest.raises(OperationFailure):
        ev(db, {"$objectToArray": "$n"}, {"n": 1})


def test_let_variables(db):
    let = {"$let": {
        "vars": {"total": {"$add": ["$price", "$tax"]}, "discounted": {"$cond": {"if": "$applyDiscount", "then": 0.9, "else": 1}}},
        "in": {"$multiply": ["$$total", "$$discounted"]},
    }}
    assert ev(db, let, {"price": 10, "tax": 0.50, "applyDiscount": True}) == pytest.approx(9.45)
    assert ev(db, let, {"price": 10, "tax": 0.25, "applyDiscount": False}) == 10.25
    assert ev(db, {"$let": {"vars": {"x": 1}, "in": {"$let": {"vars": {"x": 2}, "in": "$$x"}}}}) == 2
    with pytest.raises(OperationFailure):
        ev(db, {"$let": {"vars": {"Bad": 1}, "in": "$$Bad"}})
    with pytest.raises(OperationFailure):
        ev(db, {"$add": ["$$undefinedVar", 1]})


def test_system_variables_and_literal(db):
    doc = {"a": 1, "b": {"c": 2}, "orders": [{"amount": 5}, {"amount": 7}, {"x": 1}]}
    assert ev(db, "$$ROOT", doc) == {"_id": 1, **doc}
    assert ev(db, "$$CURRENT.b.c", doc) == 2
    assert ev(db, "$orders.amount", doc) == [5, 7]
    assert isinstance(ev(db, "$$NOW"), dt.datetime)
    assert ev(db, {"$literal": "$1"}) == "$1"
    assert ev(db, {"$literal": {"$add": [1, 2]}}) == {"$add": [1, 2]}
    assert ev(db, {"a": "$a", "gone": "$nope"}, doc) == {"a": 1}


def test_get_field_and_set_field(db):
    doc = {"item": "sweatshirt", "price.usd": 45.99, "$price": 12, "qty": 300}
    assert ev(db, {"$getField": "price.usd"}, doc) == 45.99
    assert ev(db, {"$getField": {"$literal": "$price"}}, doc) == 12
    assert ev(db, {"$getField": {"field": "qty", "input": {"qty": 5}}}) == 5
    assert ev(db, {"$getField": {"field": "qty", "input": None}}) is None
    assert ev(db, {"$getField": "nope"}, doc) is MISSING
    out = ev(db, {"$setField": {"field": "price.usd", "input": "$$ROOT", "value": 49.99}}, doc)
    assert out["price.usd"] == 49.99 and out["item"] == "sweatshirt"
    out = ev(db, {"$setField": {"field": "qty", "input": "$$ROOT", "value": "$$REMOVE"}}, doc)
    assert "qty" not in out
    out = ev(db, {"$unsetField": {"field": {"$literal": "$price"}, "input": "$$ROOT"}}, doc)
    assert "$price" not in out and out["qty"] == 300


def test_unknown_expression_operator(db):
    with pytest.raises(OperationFailure):
        ev(db, {"$noSuchOperator": [1]})
    with pytest.raises(OperationFailure):  # an accumulator-only operator outside $group
        ev(db, {"$top": {"output": "$a", "sortBy": {"a": 1}}})


def test_type_operator(db):
    values = [
        (1, "int"), (2 ** 40, "long"), (1.5, "double"), (Decimal128("1.5"), "decimal"), ("a", "string"),
        (True, "bool"), (None, "null"), ([1], "array"), ({"a": 1}, "object"), (D(2020, 1, 1), "date"),
        (ObjectId("5ab9cbfa31c2ab715d42129e"), "objectId"), (nestdb.Regex("a", ""), "regex"),
        (nestdb.Timestamp(1, 1), "timestamp"), (nestdb.Binary(b"x", 0), "binData"),
    ]
    got = [(expected, ev(db, {"$type": "$v"}, {"v": v})) for v, expected in values]
    assert [g for g in got if g[0] != g[1]] == []
    assert ev(db, {"$type": "$v"}) == "missing"


def test_conversions(db):
    # $convert and the $toInt/$toLong/$toDouble/$toBool/... shorthands ("Behavior" tables)
    assert check(db, [
        ({"$toInt": "10"}, 10, "int"),
        ({"$toInt": 10.9}, 10, "int"),
        ({"$toInt": -10.9}, -10, "int"),
        ({"$toInt": True}, 1, "int"),
        ({"$toInt": None}, None),
        ({"$toLong": "5"}, 5, "long"),
        ({"$toLong": 5}, 5, "long"),
        ({"$toDouble": "5.5"}, 5.5, "double"),
        ({"$toDouble": 5}, 5.0, "double"),
        ({"$toDouble": True}, 1.0, "double"),
        ({"$toBool": "false"}, True, "bool"),
        ({"$toBool": ""}, True, "bool"),
        ({"$toBool": 0}, False, "bool"),
        ({"$toBool": 0.1}, True, "bool"),
        ({"$convert": {"input": "abc", "to": "int", "onError": -1}}, -1, "int"),
        ({"$convert": {"input": "$nope", "to": "int", "onNull": "n/a"}}, "n/a"),
        ({"$convert": {"input": "7", "to": 16}}, 7, "int"),
        ({"$convert": {"input": 7, "to": "string"}}, "7"),
        ({"$isNumber": 5}, True),
        ({"$isNumber": "5"}, False),
    ], with_kind=True) == []


def test_conversions_dates_decimals_object_ids(db):
    d = ev(db, {"$toDecimal": 2.5})
    assert kind(d) == "decimal" and dec(d) == dec(Decimal128("2.5"))
    assert ev(db, {"$toObjectId": "5ab9cbfa31c2ab715d42129e"}) == ObjectId("5ab9cbfa31c2ab715d42129e")
    assert ev(db, {"$toLong": "$d"}, {"d": D(2017, 7, 14, 2, 40)}) == 1500000000000


def test_to_date_behavior_table(db):
    # $toDate page, conversion examples (NumberLong("1100000000000") is 2004-11-09T11:33:20Z;
    # the table's "2004-11-19" is a typo: 1.1e9 seconds after the epoch)
    assert check(db, [
        ({"$toDate": 120000000000.5}, D(1973, 10, 20, 21, 20)),
        ({"$toDate": Decimal128("1253372036000.50")}, D(2009, 9, 19, 14, 53, 56)),
        ({"$toDate": Int64(1100000000000)}, D(2004, 11, 9, 11, 33, 20)),
        ({"$toDate": Int64(-1100000000000)}, D(1935, 2, 22, 12, 26, 40)),
        ({"$toDate": ObjectId("5ab9c3da31c2ab715d421285")}, D(2018, 3, 27, 4, 8, 58)),
        ({"$toDate": "2018-03-20"}, D(2018, 3, 20)),
        ({"$toDate": "2018-03-20T12:00:00Z"}, D(2018, 3, 20, 12)),
        ({"$toDate": "2018-03-20T12:00:00+0500"}, D(2018, 3, 20, 7)),
    ]) == []
    with pytest.raises(OperationFailure):
        ev(db, {"$toDate": "Friday"})


def test_to_date_strings_with_space_separated_offset(db):
    # $toDate page: {$toDate: "2018-03-20 11:00:06 +0500"} -> ISODate("2018-03-20T06:00:06Z"), and
    # the "orders" example converts "2018-03-15 +10:00" to ISODate("2018-03-14T14:00:00Z")
    assert ev(db, {"$toDate": "2018-03-20 11:00:06 +0500"}) == D(2018, 3, 20, 6, 0, 6)
    assert ev(db, {"$toDate": "$d"}, {"d": "2018-03-15 +10:00"}) == D(2018, 3, 14, 14)


def test_conversion_errors(db):
    assert check_errors(db, [
        {"$toInt": "$s"},
        {"$toInt": "$f"},
        {"$toInt": "$big"},
        {"$toDouble": "$s"},
        {"$toObjectId": "$s"},
        {"$toDate": "$s"},
        {"$convert": {"input": "$s", "to": "int"}},
        {"$convert": {"input": 1, "to": "notAType"}},
    ], {"s": "hello", "f": "10.5", "big": Int64(2 ** 40)}) == []


# =============================================================================================
# Dates
# =============================================================================================

DATE_DOC = {"date": D(2014, 1, 1, 8, 15, 39, 736000)}


def test_date_to_string_formats(db):
    # $dateToString page: sales document with date ISODate("2014-01-01T08:15:39.736Z")
    cases = [
        ("%Y-%m-%d", None, "2014-01-01"),
        ("%H:%M:%S:%L%z", "+04:30", "12:45:39:736+0430"),
        ("%Z", "-05:00", "-300"),
        ("%j", None, "001"),
        ("%w", None, "4"),
        ("%u", None, "3"),
        ("%U", None, "00"),
        ("%V", None, "01"),
        ("%G", None, "2014"),
        ("%d/%m/%Y %% %H", "-05:00", "01/01/2014 % 03"),
    ]
    failures = []
    for fmt, tz, expected in cases:
        spec = {"format": fmt, "date": "$date"}
        if tz:
            spec["timezone"] = tz
        got = ev(db, {"$dateToString": spec}, DATE_DOC)
        if got != expected:
            failures.append((fmt, tz, expected, got))
    assert failures == []


def test_date_to_string_defaults_and_nulls(db):
    assert ev(db, {"$dateToString": {"date": "$date"}}, DATE_DOC) == "2014-01-01T08:15:39.736Z"
    assert ev(db, {"$dateToString": {"date": "$nope", "format": "%Y"}}) is None
    assert ev(db, {"$dateToString": {"date": "$nope", "format": "%Y", "onNull": "no date"}}) == "no date"
    with pytest.raises(OperationFailure):
        ev(db, {"$dateToString": {"date": "$s", "format": "%Y"}}, {"s": "2014-01-01"})


def test_olson_time_zone_names(db):
    # $dateToString page ("timewithOffsetNY", "minutesOffsetNY") and $dateFromString page use
    # Olson time zone identifiers
    assert ev(db, {"$dateToString": {"format": "%H:%M:%S:%L%z", "date": "$date", "timezone": "America/New_York"}},
              DATE_DOC) == "03:15:39:736-0500"
    assert ev(db, {"$dateToString": {"format": "%Z", "date": "$date", "timezone": "America/New_York"}}, DATE_DOC) == "-300"
    assert ev(db, {"$dateFromString": {"dateString": "2017-02-08T12:10:40.787", "timezone": "America/New_York"}}) == \
        D(2017, 2, 8, 17, 10, 40, 787000)
    assert ev(db, {"$hour": {"date": "$date", "timezone": "Europe/London"}}, DATE_DOC) == 8


def test_date_part_operators(db):
    expr = {k: {f"${k}": "$date"} for k in
            ["year", "month", "dayOfMonth", "hour", "minute", "second", "millisecond", "dayOfYear", "dayOfWeek", "week",
             "isoWeek", "isoWeekYear", "isoDayOfWeek"]}
    assert ev(db, expr, DATE_DOC) == {"year": 2014, "month": 1, "dayOfMonth": 1, "hour": 8, "minute": 15, "second": 39,
                                      "millisecond": 736, "dayOfYear": 1, "dayOfWeek": 4, "week": 0, "isoWeek": 1,
                                      "isoWeekYear": 2014, "isoDayOfWeek": 3}
    # 2016-01-01 is a Friday in ISO week 53 of 2015
    assert ev(db, expr, {"date": D(2016, 1, 1)})["isoWeek"] == 53
    assert ev(db, expr, {"date": D(2016, 1, 1)})["isoWeekYear"] == 2015
    assert ev(db, {"$hour": {"date": "$date", "timezone": "+05:30"}}, DATE_DOC) == 13
    assert ev(db, {"$year": "$nope"}) is None


def test_date_from_parts_and_to_parts(db):
    assert ev(db, {"$dateFromParts": {"year": 2017, "month": 2, "day": 8, "hour": 12}}) == D(2017, 2, 8, 12)
    assert ev(db, {"$dateFromParts": {"isoWeekYear": 2017, "isoWeek": 6, "isoDayOfWeek": 3, "hour": 12}}) == D(2017, 2, 8, 12)
    assert ev(db, {"$dateFromParts": {"year": 2017, "month": 2, "day": 8, "hour": 12, "timezone": "-05:00"}}) == D(2017, 2, 8, 17)
    # values outside the usual range carry into the next unit
    assert ev(db, {"$dateFromParts": {"year": 2017, "month": 14, "day": 1}}) == D(2018, 2, 1)
    assert ev(db, {"$dateFromParts": {"year": 2017, "month": 3, "day": 0}}) == D(2017, 2, 28)
    assert ev(db, {"$dateFromParts": {"year": 2016, "month": 1, "day": 1, "hour": 25}}) == D(2016, 1, 2, 1)
    doc = {"date": D(2017, 1, 1, 1, 29, 9, 123000)}
    assert ev(db, {"$dateToParts": {"date": "$date"}}, doc) == {
        "year": 2017, "month": 1, "day": 1, "hour": 1, "minute": 29, "second": 9, "millisecond": 123}
    assert ev(db, {"$dateToParts": {"date": "$date", "iso8601": True}}, doc) == {
        "isoWeekYear": 2016, "isoWeek": 52, "isoDayOfWeek": 7, "hour": 1, "minute": 29, "second": 9, "millisecond": 123}


def test_date_from_string(db):
    # $dateFromString page, "Behavior" table and the logmessages example (fixed-offset rows)
    assert ev(db, {"$dateFromString": {"dateString": "2017-02-08T12:10:40.787"}}) == D(2017, 2, 8, 12, 10, 40, 787000)
    assert ev(db, {"$dateFromString": {"dateString": "2017-02-08"}}) == D(2017, 2, 8)
    assert ev(db, {"$dateFromString": {"dateString": "06-15-2018", "format": "%m-%d-%Y"}}) == D(2018, 6, 15)
    assert ev(db, {"$dateFromString": {"dateString": "15-06-2018", "format": "%d-%m-%Y"}}) == D(2018, 6, 15)
    coll = load(db, "logmessages", [
        {"_id": 2, "date": "2017-02-08", "timezone": "-05:00", "message": "Step 1: Ended"},
        {"_id": 3, "message": " Step 1: Ended "},
        {"_id": 5, "date": "2017-02-09T03:35:02.055", "timezone": "+0530", "message": "Step 2: In Progress"},
    ])
    out = run(coll, [{"$project": {"date": {"$dateFromString": {"dateString": "$date", "timezone": "$timezone"}}}}])
    assert out == [{"_id": 2, "date": D(2017, 2, 8, 5)}, {"_id": 3, "date": None}, {"_id": 5, "date": D(2017, 2, 8, 22, 5, 2, 55000)}]
    assert ev(db, {"$dateFromString": {"dateString": "20177-02-09T03:35:02.055", "onError": "$s"}}, {"s": "orig"}) == "orig"
    assert ev(db, {"$dateFromString": {"dateString": "$nope", "onNull": D(1970, 1, 1)}}) == D(1970, 1, 1)
    with pytest.raises(OperationFailure):
        ev(db, {"$dateFromString": {"dateString": "$s"}}, {"s": "not a date"})


def test_date_trunc(db):
    # $dateTrunc page: bins count from 2000-01-01T00:00:00Z; weeks start on startOfWeek (default
    # Sunday). 2021-03-20 is a Saturday.
    cases = [
        ({"unit": "month"}, D(2021, 3, 1)),
        ({"unit": "year"}, D(2021, 1, 1)),
        ({"unit": "quarter"}, D(2021, 1, 1)),
        ({"unit": "day"}, D(2021, 3, 20)),
        ({"unit": "hour", "binSize": 6}, D(2021, 3, 20, 6)),
        ({"unit": "minute", "binSize": 15}, D(2021, 3, 20, 11, 30)),
        ({"unit": "week"}, D(2021, 3, 14)),
        ({"unit": "week", "startOfWeek": "monday"}, D(2021, 3, 15)),
        ({"unit": "month", "binSize": 6}, D(2021, 1, 1)),
        ({"unit": "month", "binSize": 5}, D(2020, 11, 1)),
        ({"unit": "day", "timezone": "+05:30"}, D(2021, 3, 19, 18, 30)),
    ]
    failures = []
    for spec, expected in cases:
        got = ev(db, {"$dateTrunc": {"date": "$d", **spec}}, {"d": D(2021, 3, 20, 11, 30, 5)})
        if got != expected:
            failures.append((spec, expected, got))
    assert failures == []


def test_date_add_subtract_diff(db):
    assert ev(db, {"$dateAdd": {"startDate": "$d", "unit": "month", "amount": 1}}, {"d": D(2021, 1, 31)}) == D(2021, 2, 28)
    assert ev(db, {"$dateAdd": {"startDate": "$d", "unit": "day", "amount": 3}}, {"d": D(2020, 12, 30)}) == D(2021, 1, 2)
    assert ev(db, {"$dateAdd": {"startDate": "$d", "unit": "year", "amount": 1}}, {"d": D(2020, 2, 29)}) == D(2021, 2, 28)
    assert ev(db, {"$dateSubtract": {"startDate": "$d", "unit": "hour", "amount": 2}}, {"d": D(2021, 1, 1, 1)}) == D(2020, 12, 31, 23)
    assert ev(db, {"$dateAdd": {"startDate": "$nope", "unit": "day", "amount": 1}}) is None
    # $dateDiff page, "Elapsed Time" example
    for purchased, delivered, days in [(D(2020, 12, 31), D(2021, 1, 5), 5), (D(2021, 2, 28), D(2021, 3, 7), 7),
                                       (D(2021, 2, 16), D(2021, 2, 18), 2)]:
        assert ev(db, {"$dateDiff": {"startDate": "$p", "endDate": "$e", "unit": "day"}}, {"p": purchased, "e": delivered}) == days
    # boundaries crossed, not whole units elapsed
    assert ev(db, {"$dateDiff": {"startDate": "$p", "endDate": "$e", "unit": "year"}},
              {"p": D(2020, 12, 31, 23, 59), "e": D(2021, 1, 1)}) == 1
    assert ev(db, {"$dateDiff": {"startDate": "$p", "endDate": "$e", "unit": "month"}},
              {"p": D(2021, 3, 5), "e": D(2021, 1, 31)}) == -2
    with pytest.raises(OperationFailure):
        ev(db, {"$dateAdd": {"startDate": "$d", "unit": "fortnight", "amount": 1}}, {"d": D(2021, 1, 1)})


# =============================================================================================
# Misc operators
# =============================================================================================


def test_size_operators_and_rand(db):
    assert ev(db, {"$bsonSize": {"$literal": {}}}) == 5
    assert ev(db, {"$bsonSize": "$$ROOT"}, {}) == 14  # {_id: <int32>}
    assert ev(db, {"$bsonSize": "$nope"}) is None
    assert ev(db, {"$binarySize": "abc"}) == 3
    assert ev(db, {"$binarySize": "寿司"}) == 6
    r = ev(db, {"$rand": {}})
    assert isinstance(r, float) and 0 <= r < 1


def test_bitwise_operators(db):
    # $bitAnd / $bitOr / $bitXor / $bitNot pages (MongoDB 6.3)
    doc = {"a": 0b1100, "b": 0b1010}
    assert ev(db, {"$bitAnd": ["$a", "$b"]}, doc) == 0b1000
    assert ev(db, {"$bitOr": ["$a", "$b"]}, doc) == 0b1110
    assert ev(db, {"$bitXor": ["$a", "$b"]}, doc) == 0b0110
    assert ev(db, {"$bitNot": "$a"}, doc) == -13

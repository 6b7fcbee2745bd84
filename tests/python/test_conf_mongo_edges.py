"""Conformance tests: corner cases of the MongoDB query language, sort order, projection,
update operators, write results and aggregation through ``nestdb.MongoClient``.

These complement test_conf_query.py / test_conf_update.py / test_conf_aggregate.py with
edges those files do not pin down. Every expectation comes from the MongoDB manual
(mongodb.com/docs/manual), the page is named next to each group:
- reference/bson-type-comparison-order (type order, arrays, NaN, null vs missing)
- reference/operator/query/* (comparison, $in, $all, $elemMatch, $size, $type, $exists, $mod,
  $regex, $expr), tutorial/query-for-null-fields, tutorial/query-arrays
- reference/method/cursor.sort, reference/operator/projection/*
- reference/operator/update/* (field, array, modifiers), reference/method/db.collection.update*
- reference/method/db.collection.{insertMany,findOneAndUpdate,countDocuments,distinct}
- reference/operator/aggregation/* (stages, accumulators, expressions)

A genuine difference from the manual is kept as ``xfail(strict=True)`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, List

import pytest

import nestdb
from nestdb import (
    Binary,
    BulkWriteError,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    MongoClient,
    ObjectId,
    OperationFailure,
    Regex,
    ReturnDocument,
    Timestamp,
    WriteError,
)

pytestmark = pytest.mark.skipif(
    not hasattr(nestdb._nestdb.Database, "_doc_command"), reason="the native layer has no document commands yet"
)


@pytest.fixture
def db(client: MongoClient) -> Any:
    return client.edges


@pytest.fixture
def coll(db: Any) -> Any:
    return db.coll


def load(coll: Any, docs: List[dict]) -> Any:
    coll.insert_many([dict(d) for d in docs])
    return coll


def ids(cursor: Iterable[Any]) -> List[Any]:
    return sorted(d["_id"] for d in cursor)


def ordered(cursor: Iterable[Any]) -> List[Any]:
    return [d["_id"] for d in cursor]


def q(coll: Any, filter: Any) -> List[Any]:
    return ids(coll.find(filter))


def agg(coll: Any, pipeline: List[dict]) -> List[dict]:
    return list(coll.aggregate(pipeline))


def ev(coll: Any, expr: Any, doc: dict | None = None) -> Any:
    """Value of an aggregation expression against one document ("<missing>" when missing)."""
    coll.delete_many({})
    coll.insert_one({"_id": 1, **(doc or {})})
    out = agg(coll, [{"$project": {"_id": 0, "r": expr}}])
    return out[0].get("r", "<missing>")


def one(coll: Any) -> dict:
    docs = list(coll.find())
    assert len(docs) == 1, docs
    return docs[0]


# =============================================================================================
# Query: comparison, type bracketing, null/missing
# =============================================================================================


class TestQueryComparison:
    # reference/bson-type-comparison-order: query comparison operators only match documents
    # whose field is of the same BSON type (numbers are one type) -- "type bracketing".
    def test_gt_number_never_matches_other_types(self, coll: Any) -> None:
        load(
            coll,
            [
                {"_id": 1, "a": 5},
                {"_id": 2, "a": "x"},
                {"_id": 3, "a": [1, "z"]},
                {"_id": 4, "a": None},
                {"_id": 5},
                {"_id": 6, "a": True},
                {"_id": 7, "a": dt.datetime(2020, 1, 1)},
                {"_id": 8, "a": {"b": 10}},
                {"_id": 9, "a": [10]},
            ],
        )
        assert q(coll, {"a": {"$gt": 3}}) == [1, 9]
        assert q(coll, {"a": {"$lt": "zz"}}) == [2, 3]
        assert q(coll, {"a": {"$gte": MinKey()}}) == [1, 2, 3, 4, 5, 6, 7, 8, 9]

    def test_null_range_operators(self, coll: Any) -> None:
        # $gte/$lte null behave like equality to null (null and missing); $gt/$lt null match nothing.
        load(coll, [{"_id": 1, "a": None}, {"_id": 2}, {"_id": 3, "a": [None]}, {"_id": 4, "a": 0}])
        assert q(coll, {"a": {"$gte": None}}) == [1, 2, 3]
        assert q(coll, {"a": {"$lte": None}}) == [1, 2, 3]
        assert q(coll, {"a": {"$gt": None}}) == []
        assert q(coll, {"a": {"$lt": None}}) == []

    def test_null_vs_empty_and_nested_null_arrays(self, coll: Any) -> None:
        # tutorial/query-for-null-fields: {a: null} matches null, missing and arrays holding null,
        # not an empty array and not an array nested one level deeper.
        load(coll, [{"_id": 1, "a": None}, {"_id": 2}, {"_id": 3, "a": [None]}, {"_id": 4, "a": []}, {"_id": 5, "a": [[None]]}])
        assert q(coll, {"a": None}) == [1, 2, 3]
        assert q(coll, {"a": {"$ne": None}}) == [4, 5]
        assert q(coll, {"a": {"$in": [None]}}) == [1, 2, 3]
        assert q(coll, {"a": {"$nin": [None]}}) == [4, 5]
        assert q(coll, {"a": []}) == [4]
        assert q(coll, {"a": [None]}) == [3, 5]
        assert q(coll, {"a": {"$type": "null"}}) == [1, 3]

    def test_numeric_equality_across_types(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": 1}, {"_id": 2, "a": 1.0}, {"_id": 3, "a": Int64(1)}, {"_id": 4, "a": Decimal128("1.00")}, {"_id": 5, "a": "1"}, {"_id": 6, "a": True}])
        for probe in (1, 1.0, Int64(1), Decimal128("1")):
            assert q(coll, {"a": probe}) == [1, 2, 3, 4], probe
        assert q(coll, {"a": {"$in": [Decimal128("1.0")]}}) == [1, 2, 3, 4]

    def test_nan_semantics(self, coll: Any) -> None:
        # NaN equals NaN (double and decimal); range operators do not match NaN, except $gte/$lte NaN.
        nan = float("nan")
        load(coll, [{"_id": 1, "a": nan}, {"_id": 2, "a": 1}, {"_id": 3, "a": Decimal128("NaN")}, {"_id": 4, "a": -math.inf}])
        assert q(coll, {"a": nan}) == [1, 3]
        assert q(coll, {"a": {"$lt": 0}}) == [4]
        assert q(coll, {"a": {"$gt": nan}}) == []
        assert q(coll, {"a": {"$gte": nan}}) == [1, 3]
        assert q(coll, {"a": {"$ne": nan}}) == [2, 4]

    def test_date_and_timestamp_are_distinct_types(self, coll: Any) -> None:
        d = dt.datetime(2020, 1, 1)
        load(coll, [{"_id": 1, "a": d}, {"_id": 2, "a": Timestamp(1, 1)}, {"_id": 3, "a": Timestamp(2_000_000_000, 1)}])
        assert q(coll, {"a": {"$gt": dt.datetime(1970, 1, 1)}}) == [1]
        assert q(coll, {"a": {"$lt": Timestamp(1_900_000_000, 0)}}) == [2]
        assert ordered(coll.find().sort("a", 1)) == [1, 2, 3]

    def test_whole_document_equality_is_exact_and_ordered(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": {"x": 1, "y": 2}}, {"_id": 2, "a": {"y": 2, "x": 1}}, {"_id": 3, "a": [{"x": 1, "y": 2}, 5]}, {"_id": 4, "a": {"x": 1.0, "y": Int64(2)}},
                    {"_id": 5, "a": {"z": 0}}, {"_id": 6, "a": {"a": 5}}, {"_id": 7, "a": {"a": "s"}}])
        assert q(coll, {"a": {"x": 1, "y": 2}}) == [1, 3, 4]
        assert q(coll, {"a": {"y": 2, "x": 1}}) == [2]
        assert q(coll, {"a": {"$in": [{"y": 2, "x": 1}]}}) == [2]
        # Objects compare pair by pair: value type first, then field name, then value.
        assert q(coll, {"a": {"$gt": {"x": 1}}}) == [1, 2, 3, 4, 5, 7]

    def test_array_equality_exact_and_element(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 2]}, {"_id": 2, "a": [[1, 2], 3]}, {"_id": 3, "a": [1, 2, 3]}, {"_id": 4, "a": [[1], [2]]}, {"_id": 5, "a": [2, 1]}])
        assert q(coll, {"a": [1, 2]}) == [1, 2]
        assert q(coll, {"a": {"$in": [[1, 2]]}}) == [1, 2]
        assert q(coll, {"a": {"$nin": [[1, 2], 3]}}) == [4, 5]
        assert q(coll, {"a": {"$all": [[1, 2]]}}) == [1, 2]
        assert q(coll, {"a": {"$all": [1, 2]}}) == [1, 3, 5]
        assert q(coll, {"a": {"$all": [[1], [2]]}}) == [4]


class TestQueryOperators:
    def test_in_mixes_regex_null_and_values(self, coll: Any) -> None:
        # reference/operator/query/in: $in may hold regular expressions.
        load(coll, [{"_id": 1, "a": "apple"}, {"_id": 2, "a": ["Banana", "kiwi"]}, {"_id": 3}, {"_id": 4, "a": 7}, {"_id": 5, "a": "cherry"}])
        assert q(coll, {"a": {"$in": [Regex("^a"), Regex("^b", "i"), None, 7]}}) == [1, 2, 3, 4]
        assert q(coll, {"a": {"$nin": [Regex("^a"), 7]}}) == [2, 3, 5]

    def test_all_with_elem_match(self, coll: Any) -> None:
        # reference/operator/query/all (Use $all with $elemMatch)
        load(
            coll,
            [
                {"_id": 1, "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 45, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}]},
                {"_id": 2, "qty": [{"size": "S", "num": 6, "color": "blue"}, {"size": "M", "num": 100, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}]},
                {"_id": 3, "qty": [{"size": "6", "num": 100, "color": "green"}, {"size": "6", "num": 50, "color": "blue"}, {"size": "8", "num": 100, "color": "brown"}]},
            ],
        )
        f = {"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 50}}}, {"$elemMatch": {"num": 100, "color": "green"}}]}}
        assert q(coll, f) == [2]

    def test_all_mixing_elem_match_and_values_is_an_error(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1]}])
        with pytest.raises(OperationFailure):
            list(coll.find({"a": {"$all": [{"$elemMatch": {"$gt": 0}}, 1]}}))

    @pytest.mark.parametrize("arg", [1.5, -1, "1", None])
    def test_size_needs_a_non_negative_whole_number(self, coll: Any, arg: Any) -> None:
        load(coll, [{"_id": 1, "a": [1]}])
        with pytest.raises(OperationFailure):
            list(coll.find({"a": {"$size": arg}}))

    def test_size_accepts_whole_double(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1]}, {"_id": 2, "a": [1, 2]}, {"_id": 3, "a": 1}])
        assert q(coll, {"a": {"$size": 1.0}}) == [1]
        assert q(coll, {"a": {"$size": Int64(2)}}) == [2]
        assert q(coll, {"a": {"$not": {"$size": 1}}}) == [2, 3]

    def test_type_aliases_codes_and_lists(self, coll: Any) -> None:
        load(
            coll,
            [
                {"_id": 1, "a": 1},
                {"_id": 2, "a": Int64(1)},
                {"_id": 3, "a": 1.5},
                {"_id": 4, "a": Decimal128("1")},
                {"_id": 5, "a": "s"},
                {"_id": 6, "a": [1, "s"]},
                {"_id": 7, "a": []},
                {"_id": 8, "a": {"x": 1}},
                {"_id": 9, "a": True},
                {"_id": 10, "a": MinKey()},
                {"_id": 11, "a": MaxKey()},
            ],
        )
        assert q(coll, {"a": {"$type": "number"}}) == [1, 2, 3, 4, 6]
        assert q(coll, {"a": {"$type": 16}}) == [1, 6]
        assert q(coll, {"a": {"$type": 18.0}}) == [2]
        assert q(coll, {"a": {"$type": [19, "double"]}}) == [3, 4]
        assert q(coll, {"a": {"$type": "array"}}) == [6, 7]
        assert q(coll, {"a": {"$type": "object"}}) == [8]
        assert q(coll, {"a": {"$type": -1}}) == [10]
        assert q(coll, {"a": {"$type": 127}}) == [11]
        assert q(coll, {"a": {"$type": "bool"}}) == [9]

    def test_exists_on_array_index_paths(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [5]}, {"_id": 2, "a": []}, {"_id": 3, "a": {"0": "x"}}, {"_id": 4, "a": 5}, {"_id": 5}, {"_id": 6, "a": [[]]}, {"_id": 7, "a": [None]}])
        assert q(coll, {"a.0": {"$exists": True}}) == [1, 3, 6, 7]
        assert q(coll, {"a.0": {"$exists": False}}) == [2, 4, 5]

    def test_dotted_path_through_array_of_arrays(self, coll: Any) -> None:
        # Implicit traversal goes through one array level only; explicit indexes go deeper.
        load(coll, [{"_id": 1, "a": [{"b": 1}]}, {"_id": 2, "a": [[{"b": 1}]]}, {"_id": 3, "a": {"b": [1, 2]}}, {"_id": 4, "a": [{"b": [[1]]}]}])
        assert q(coll, {"a.b": 1}) == [1, 3]
        assert q(coll, {"a.0.b": 1}) == [1, 2]
        assert q(coll, {"a.0.0.b": 1}) == [2]
        assert q(coll, {"a.b": [1]}) == [4]
        assert q(coll, {"a.b.1": 2}) == [3]

    def test_numeric_component_matches_field_name_or_index(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [{"1": "x"}, "y"]}, {"_id": 2, "a": {"1": "y"}}, {"_id": 3, "a": ["p", "y"]}, {"_id": 4, "a": [{"1": "y"}]}])
        assert q(coll, {"a.1": "y"}) == [1, 2, 3, 4]
        assert q(coll, {"a.1": "x"}) == [1]

    def test_not_with_regex_and_operator_expression(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "s": "Apple"}, {"_id": 2, "s": "banana"}, {"_id": 3, "s": 5}, {"_id": 4}])
        assert q(coll, {"s": {"$not": Regex("^a", "i")}}) == [2, 3, 4]
        assert q(coll, {"s": {"$not": {"$gt": "b"}}}) == [1, 3, 4]

    def test_not_requires_operator_document_or_regex(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "s": 1}])
        with pytest.raises(OperationFailure):
            list(coll.find({"s": {"$not": 1}}))
        with pytest.raises(OperationFailure):
            list(coll.find({"s": {"$not": {}}}))

    def test_regex_options(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "s": "ABC\nxyz"}, {"_id": 2, "s": "abc"}, {"_id": 3, "s": "a\nb"}])
        assert q(coll, {"s": {"$regex": "^xyz"}}) == []
        assert q(coll, {"s": {"$regex": "^xyz", "$options": "m"}}) == [1]
        assert q(coll, {"s": {"$regex": "^abc$", "$options": "i"}}) == [2]
        assert q(coll, {"s": {"$regex": "^abc$", "$options": "im"}}) == [1, 2]
        assert q(coll, {"s": {"$regex": "a.b"}}) == []
        assert q(coll, {"s": {"$regex": "a.b", "$options": "s"}}) == [3]
        assert q(coll, {"s": {"$regex": "a . b # comment", "$options": "xs"}}) == [3]

    def test_mod_negative_and_bad_arguments(self, coll: Any) -> None:
        # reference/operator/query/mod: the remainder has the sign of the dividend.
        load(coll, [{"_id": 1, "a": -5}, {"_id": 2, "a": 5}, {"_id": 3, "a": -4}, {"_id": 4, "a": 1}])
        assert q(coll, {"a": {"$mod": [4, -1]}}) == [1]
        assert q(coll, {"a": {"$mod": [-4, 1]}}) == [2, 4]
        assert q(coll, {"a": {"$mod": [4, 0]}}) == [3]
        for bad in ([0, 0], [4], [4, 1, 2], "x"):
            with pytest.raises(OperationFailure):
                list(coll.find({"a": {"$mod": bad}}))

    def test_elem_match_operators_vs_subdocuments(self, coll: Any) -> None:
        load(
            coll,
            [
                {"_id": 1, "a": [1, 5, 9]},
                {"_id": 2, "a": [{"b": 5}, {"b": 9}]},
                {"_id": 3, "a": {"b": 5}},
                {"_id": 4, "a": [[5]]},
                {"_id": 5, "a": [{"b": 1, "c": 2}, {"b": 2, "c": 1}]},
            ],
        )
        assert q(coll, {"a": {"$elemMatch": {"$gt": 4, "$lt": 6}}}) == [1]
        assert q(coll, {"a": {"$elemMatch": {"b": 5}}}) == [2]
        assert q(coll, {"a": {"$elemMatch": {"$elemMatch": {"$eq": 5}}}}) == [4]
        assert q(coll, {"a": {"$elemMatch": {"b": 1, "c": 1}}}) == []
        assert q(coll, {"a.b": 1, "a.c": 1}) == [5]
        assert q(coll, {"a": {"$elemMatch": {"$or": [{"b": 9}, {"c": 2}]}}}) == [2, 5]

    def test_expr_cond_switch_if_null_and_array_paths(self, coll: Any) -> None:
        load(
            coll,
            [
                {"_id": 1, "qty": 10, "price": 5, "items": [{"p": 1}, {"p": 4}]},
                {"_id": 2, "qty": 1, "price": None, "items": [{"p": 9}]},
                {"_id": 3, "qty": 3, "items": []},
            ],
        )
        assert q(coll, {"$expr": {"$gt": [{"$ifNull": ["$price", 100]}, 50]}}) == [2, 3]
        assert q(coll, {"$expr": {"$eq": [{"$cond": [{"$gte": ["$qty", 5]}, "big", "small"]}, "big"]}}) == [1]
        sw = {"$switch": {"branches": [{"case": {"$eq": ["$qty", 1]}, "then": True}], "default": False}}
        assert q(coll, {"$expr": sw}) == [2]
        # "$items.p" evaluates to the array of p values; $sum sums it.
        assert q(coll, {"$expr": {"$gt": [{"$sum": "$items.p"}, 4]}}) == [1, 2]
        assert q(coll, {"$expr": {"$eq": ["$items.p", [9]]}}) == [2]
        assert q(coll, {"$expr": {"$eq": ["$items.p", []]}}) == [3]


# =============================================================================================
# Sort
# =============================================================================================


class TestSortEdges:
    def test_full_bson_type_order_both_directions(self, coll: Any) -> None:
        # reference/bson-type-comparison-order
        values = [
            MaxKey(),
            Regex("a"),
            Timestamp(1, 1),
            dt.datetime(2020, 1, 1),
            True,
            ObjectId("5f0000000000000000000000"),
            Binary(b"x"),
            [5],
            {"x": 1},
            "s",
            3,
            None,
            MinKey(),
        ]
        load(coll, [{"_id": i, "a": v} for i, v in enumerate(values)])
        # [5] sorts as its element 5 (a number) in both directions.
        assert ordered(coll.find().sort("a", 1)) == [12, 11, 10, 7, 9, 8, 6, 5, 4, 3, 2, 1, 0]
        assert ordered(coll.find().sort("a", -1)) == [0, 1, 2, 3, 4, 5, 6, 8, 9, 7, 10, 11, 12]

    def test_arrays_min_ascending_max_descending_with_nulls(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [3, 1]}, {"_id": 2, "a": 2}, {"_id": 3, "a": []}, {"_id": 5, "a": [None, 4]}, {"_id": 6, "a": ["s", 0]}])
        assert ordered(coll.find().sort("a", 1)) == [3, 5, 6, 1, 2]
        assert ordered(coll.find().sort("a", -1)) == [6, 5, 1, 2, 3]

    def test_dotted_sort_through_array_of_documents(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [{"b": 3}, {"b": 1}]}, {"_id": 2, "a": {"b": 2}}, {"_id": 3, "a": [{"c": 1}]}, {"_id": 4, "a": [{"b": 0}, {"b": 5}]}])
        assert ordered(coll.find().sort("a.b", 1)) == [3, 4, 1, 2]
        assert ordered(coll.find().sort("a.b", -1)) == [4, 1, 2, 3]

    def test_compound_mixed_directions(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": 1, "b": "x"}, {"_id": 2, "a": 1, "b": "y"}, {"_id": 3, "a": 2, "b": "a"}, {"_id": 4, "b": "z"}, {"_id": 5, "a": None, "b": "a"}])
        assert ordered(coll.find().sort([("a", -1), ("b", 1)])) == [3, 1, 2, 5, 4]
        assert ordered(coll.find().sort([("a", 1), ("b", -1)])) == [4, 5, 2, 1, 3]

    def test_numeric_types_interleave_and_decimal(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": Decimal128("2.5")}, {"_id": 2, "a": Int64(2)}, {"_id": 3, "a": 3}, {"_id": 4, "a": 2.75}, {"_id": 5, "a": -math.inf}, {"_id": 6, "a": float("nan")}])
        assert ordered(coll.find().sort("a", 1)) == [6, 5, 2, 1, 4, 3]

    def test_sort_with_projection_excluding_sort_key(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": 2}, {"_id": 2, "a": 1}])
        assert list(coll.find({}, {"a": 0}).sort("a", 1)) == [{"_id": 2}, {"_id": 1}]

    # release-notes/3.6-compatibility (Array Sort Behavior; DOCS-11241, SERVER-32839 "works as
    # designed"): a sort on several fields whose values are arrays in the same document fails
    # with BadValue (code 2) "cannot sort with keys that are parallel arrays", for find and
    # aggregate alike, with or without a limit.
    PARALLEL = [{"_id": 1, "a": [1, 2], "b": [3, 4]}, {"_id": 2, "a": 0, "b": 0}]

    def test_parallel_array_sort_with_limit_is_an_error(self, coll: Any) -> None:
        load(coll, self.PARALLEL)
        with pytest.raises(OperationFailure) as ei:
            agg(coll, [{"$sort": {"a": 1, "b": 1}}, {"$limit": 1}])
        assert ei.value.code == 2

    def test_parallel_array_find_sort_is_an_error(self, coll: Any) -> None:
        load(coll, self.PARALLEL)
        with pytest.raises(OperationFailure) as ei:
            list(coll.find().sort([("a", 1), ("b", 1)]))
        assert ei.value.code == 2

    def test_parallel_array_aggregate_sort_is_an_error(self, coll: Any) -> None:
        load(coll, self.PARALLEL)
        with pytest.raises(OperationFailure) as ei:
            agg(coll, [{"$sort": {"a": 1, "b": 1}}])
        assert ei.value.code == 2

    def test_sort_on_two_paths_through_the_same_array_is_allowed(self, coll: Any) -> None:
        # Fields through the same array are not parallel: {"x.a": 1, "x.b": 1} is fine.
        load(coll, [{"_id": 1, "x": [{"a": 2, "b": 1}, {"a": 1, "b": 5}]}, {"_id": 2, "x": [{"a": 1, "b": 3}]}])
        assert ordered(coll.find().sort([("x.a", 1), ("x.b", 1)])) == [2, 1]


# =============================================================================================
# Projection
# =============================================================================================


DOC = {
    "_id": 1,
    "a": [{"b": 1, "c": 2}, {"b": 3, "c": 4}, 5],
    "x": {"y": 1, "z": 2},
    "arr": [1, 2, 3, 4, 5],
}


class TestProjectionEdges:
    def test_inclusion_exclusion_mix_is_an_error_except_id(self, coll: Any) -> None:
        load(coll, [DOC])
        with pytest.raises(OperationFailure):
            list(coll.find({}, {"a": 1, "x": 0}))
        with pytest.raises(OperationFailure):
            list(coll.find({}, {"a": 0, "x": 1}))
        assert list(coll.find({}, {"x": 1, "_id": 0})) == [{"x": {"y": 1, "z": 2}}]
        assert list(coll.find({}, {"x": 0, "_id": 1})) == [{"_id": 1, "a": DOC["a"], "arr": DOC["arr"]}]

    def test_id_zero_only(self, coll: Any) -> None:
        load(coll, [DOC])
        assert list(coll.find({}, {"_id": 0})) == [{k: v for k, v in DOC.items() if k != "_id"}]

    def test_dotted_inclusion_into_array_of_documents(self, coll: Any) -> None:
        # tutorial/project-fields-from-query-results: "a.b" keeps b of each embedded document,
        # and drops non-document elements.
        load(coll, [DOC])
        assert list(coll.find({}, {"a.b": 1})) == [{"_id": 1, "a": [{"b": 1}, {"b": 3}]}]
        assert list(coll.find({}, {"a.b": 0, "x": 0, "arr": 0})) == [{"_id": 1, "a": [{"c": 2}, {"c": 4}, 5]}]

    def test_missing_fields(self, coll: Any) -> None:
        load(coll, [DOC])
        assert list(coll.find({}, {"nope": 1})) == [{"_id": 1}]
        assert list(coll.find({}, {"x.nope": 1})) == [{"_id": 1, "x": {}}]
        assert list(coll.find({}, {"nope": 0, "_id": 0, "a": 0, "arr": 0})) == [{"x": {"y": 1, "z": 2}}]

    @pytest.mark.parametrize(
        "spec,expected",
        [
            (2, [1, 2]),
            (-2, [4, 5]),
            (10, [1, 2, 3, 4, 5]),
            (-10, [1, 2, 3, 4, 5]),
            ([1, 2], [2, 3]),
            ([-2, 1], [4]),
            ([-10, 2], [1, 2]),
            ([10, 2], []),
            ([-1, 5], [5]),
        ],
    )
    def test_slice(self, coll: Any, spec: Any, expected: List[int]) -> None:
        # reference/operator/projection/slice
        load(coll, [DOC])
        assert coll.find_one({}, {"arr": {"$slice": spec}, "_id": 0, "a": 0, "x": 0}) == {"arr": expected}

    def test_slice_alone_keeps_other_fields(self, coll: Any) -> None:
        # With only $slice, the projection is exclusion-like: other fields are returned.
        load(coll, [DOC])
        assert coll.find_one({}, {"arr": {"$slice": 1}}) == {**DOC, "arr": [1]}
        assert coll.find_one({}, {"arr": {"$slice": 1}, "x": 1}) == {"_id": 1, "arr": [1], "x": {"y": 1, "z": 2}}

    def test_elem_match_projection(self, coll: Any) -> None:
        load(coll, [DOC])
        assert coll.find_one({}, {"a": {"$elemMatch": {"b": {"$gt": 1}}}}) == {"_id": 1, "a": [{"b": 3, "c": 4}]}
        assert coll.find_one({}, {"a": {"$elemMatch": {"b": {"$gt": 100}}}}) == {"_id": 1}
        assert coll.find_one({}, {"arr": {"$elemMatch": {"$gte": 4}}, "x.y": 1}) == {"_id": 1, "x": {"y": 1}, "arr": [4]}

    def test_positional_projection(self, coll: Any) -> None:
        load(coll, [DOC, {"_id": 2, "arr": [7, 8], "a": [{"b": 9}]}])
        assert coll.find_one({"arr": {"$gt": 3}}, {"arr.$": 1}) == {"_id": 1, "arr": [4]}
        assert coll.find_one({"a.b": 3}, {"a.$": 1}) == {"_id": 1, "a": [{"b": 3, "c": 4}]}
        assert list(coll.find({"arr": {"$gte": 5}}, {"arr.$": 1})) == [{"_id": 1, "arr": [5]}, {"_id": 2, "arr": [7]}]

    def test_computed_field_in_find_projection(self, coll: Any) -> None:
        load(coll, [DOC])
        assert coll.find_one({}, {"n": "$x.y", "l": {"$literal": "$x"}, "s": {"$size": "$arr"}}) == {"_id": 1, "n": 1, "l": "$x", "s": 5}

    def test_path_collision_is_an_error(self, coll: Any) -> None:
        load(coll, [DOC])
        with pytest.raises(OperationFailure):
            list(coll.find({}, {"x": 1, "x.y": 1}))


# =============================================================================================
# Update operators
# =============================================================================================


def upd(coll: Any, filter: Any, update: Any, **kw: Any) -> tuple:
    r = coll.update_one(filter, update, **kw)
    return r.matched_count, r.modified_count, r.upserted_id


def write_error(coll: Any, filter: Any, update: Any, **kw: Any) -> Any:
    with pytest.raises(WriteError) as ei:
        coll.update_one(filter, update, **kw)
    return ei.value


class TestUpdateFieldOperators:
    def test_set_index_beyond_length_pads_and_unset_element_nulls(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 2]}])
        upd(coll, {"_id": 1}, {"$set": {"a.4": 9}})
        assert one(coll)["a"] == [1, 2, None, None, 9]
        upd(coll, {"_id": 1}, {"$unset": {"a.0": ""}})
        assert one(coll)["a"] == [None, 2, None, None, 9]

    def test_set_field_on_array_without_index_is_an_error(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [{"b": 1}], "n": [None]}])
        assert write_error(coll, {"_id": 1}, {"$set": {"a.b": 5}}).code == 28
        assert write_error(coll, {"_id": 1}, {"$set": {"n.0.x": 5}}).code == 28
        upd(coll, {"_id": 1}, {"$set": {"a.0.c": 5}})
        assert one(coll)["a"] == [{"b": 1, "c": 5}]

    def test_inc_errors_and_missing_field(self, coll: Any) -> None:
        # reference/operator/update/inc
        load(coll, [{"_id": 1, "s": "x", "n": 5}])
        e = write_error(coll, {"_id": 1}, {"$inc": {"s": 1}})
        assert e.code == 14
        assert "Cannot apply $inc to a value of non-numeric type" in str(e)
        assert write_error(coll, {"_id": 1}, {"$inc": {"n": "x"}}).code == 14
        upd(coll, {"_id": 1}, {"$inc": {"m.k": Int64(3), "f": 1.5}})
        d = one(coll)
        assert d["m"] == {"k": 3} and isinstance(d["m"]["k"], Int64) and d["f"] == 1.5

    def test_inc_decimal_and_mul_promotion(self, coll: Any) -> None:
        # reference/operator/update/mul: Int32 * Int64 -> Int64; int * double -> double.
        load(coll, [{"_id": 1, "i": 5, "f": 2, "d": Decimal128("1.1"), "l": Int64(3)}])
        upd(coll, {"_id": 1}, {"$mul": {"i": Int64(2), "f": 1.5, "l": 2}, "$inc": {"d": 1}})
        d = one(coll)
        assert d["i"] == 10 and isinstance(d["i"], Int64)
        assert d["f"] == 3.0 and isinstance(d["f"], float)
        assert d["l"] == 6 and isinstance(d["l"], Int64)
        assert d["d"] == Decimal128("2.1")

    def test_min_max_across_types(self, coll: Any) -> None:
        # reference/operator/update/min: comparison uses the BSON comparison order.
        load(coll, [{"_id": 1, "n": 10, "m": 10, "k": "s"}])
        upd(coll, {"_id": 1}, {"$min": {"n": "str", "k": None}, "$max": {"m": "str"}})
        d = one(coll)
        assert d == {"_id": 1, "n": 10, "m": "str", "k": None}

    def test_min_equal_value_of_other_numeric_type_is_noop(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "n": 10}])
        assert upd(coll, {"_id": 1}, {"$min": {"n": 10.0}}) == (1, 0, None)
        assert upd(coll, {"_id": 1}, {"$max": {"n": Int64(10)}}) == (1, 0, None)
        assert isinstance(one(coll)["n"], int) and not isinstance(one(coll)["n"], Int64)

    def test_rename_array_paths_are_errors(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 2], "n": 5, "s": "x"}])
        assert write_error(coll, {"_id": 1}, {"$rename": {"a.0": "z"}}).code == 2
        assert write_error(coll, {"_id": 1}, {"$rename": {"n": "a.0"}}).code == 2
        assert write_error(coll, {"_id": 1}, {"$rename": {"n": "s.q"}}).code == 28
        assert upd(coll, {"_id": 1}, {"$rename": {"missing": "m2"}}) == (1, 0, None)

    def test_conflicting_paths(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": {"b": 1}}])
        e = write_error(coll, {"_id": 1}, {"$set": {"a": 1}, "$inc": {"a": 1}})
        assert e.code == 40
        assert "Updating the path 'a' would create a conflict at 'a'" in str(e)
        assert write_error(coll, {"_id": 1}, {"$set": {"a.b": 1}, "$unset": {"a": ""}}).code == 40
        assert write_error(coll, {"_id": 1}, {"$set": {"a.b": 1, "a.b.c": 2}}).code == 40
        # Sibling paths do not conflict.
        upd(coll, {"_id": 1}, {"$set": {"a.b": 2, "a.bb": 3}})
        assert one(coll)["a"] == {"b": 2, "bb": 3}

    def test_modifying_id_is_error_66(self, coll: Any) -> None:
        load(coll, [{"_id": 1}, {"_id": {"k": 1}}])
        assert write_error(coll, {"_id": 1}, {"$set": {"_id": 2}}).code == 66
        assert write_error(coll, {"_id": 1}, {"$inc": {"_id": 1}}).code == 66
        assert write_error(coll, {"_id": {"k": 1}}, {"$set": {"_id.k": 2}}).code == 66
        assert upd(coll, {"_id": 1}, {"$set": {"_id": 1}}) == (1, 0, None)

    def test_empty_update_document_is_an_error(self, coll: Any) -> None:
        load(coll, [{"_id": 1}])
        with pytest.raises((ValueError, OperationFailure)):
            coll.update_one({"_id": 1}, {})



class TestUpdateArrayOperators:
    def test_push_each_sort_slice_combinations(self, coll: Any) -> None:
        # reference/operator/update/push and /slice, /sort
        load(coll, [{"_id": 1, "a": [1, 2, 3]}])
        upd(coll, {"_id": 1}, {"$push": {"a": {"$each": [5, 4], "$sort": -1, "$slice": -2}}})
        assert one(coll)["a"] == [2, 1]
        upd(coll, {"_id": 1}, {"$push": {"a": {"$each": [], "$slice": 0}}})
        assert one(coll)["a"] == []
        upd(coll, {"_id": 1}, {"$push": {"a": {"$each": [9, 7, 8], "$slice": 2}}})
        assert one(coll)["a"] == [9, 7]

    def test_push_sort_by_subfield_missing_sorts_first(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [{"s": 3}, {"s": 1}]}])
        upd(coll, {"_id": 1}, {"$push": {"a": {"$each": [{"s": 2}, {"t": 0}], "$sort": {"s": 1}}}})
        assert one(coll)["a"] == [{"t": 0}, {"s": 1}, {"s": 2}, {"s": 3}]
        upd(coll, {"_id": 1}, {"$push": {"a": {"$each": [], "$sort": {"s": -1}, "$slice": 2}}})
        assert one(coll)["a"] == [{"s": 3}, {"s": 2}]

    def test_add_to_set_each_with_duplicates_in_input(self, coll: Any) -> None:
        # reference/operator/update/addToSet
        load(coll, [{"_id": 1, "a": [1]}])
        assert upd(coll, {"_id": 1}, {"$addToSet": {"a": {"$each": [2, 2, 1, 3, 3]}}}) == (1, 1, None)
        assert one(coll)["a"] == [1, 2, 3]
        assert upd(coll, {"_id": 1}, {"$addToSet": {"a": {"$each": [3.0, Int64(2)]}}}) == (1, 0, None)
        upd(coll, {"_id": 1}, {"$addToSet": {"a": [4, 5]}})
        assert one(coll)["a"] == [1, 2, 3, [4, 5]]

    def test_pop(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 2, 3], "e": []}])
        upd(coll, {"_id": 1}, {"$pop": {"a": -1}})
        upd(coll, {"_id": 1}, {"$pop": {"a": 1}})
        assert one(coll)["a"] == [2]
        assert upd(coll, {"_id": 1}, {"$pop": {"e": 1}}) == (1, 0, None)

    def test_pull_condition_and_embedded_documents(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [{"x": 1, "y": 2}, {"x": 1}, {"x": 2, "y": 2}], "b": [1, [1], 2, 5, 8], "s": [1, 2]}])
        upd(coll, {"_id": 1}, {"$pull": {"a": {"x": 1}, "b": {"$gte": 5}}})
        d = one(coll)
        assert d["a"] == [{"x": 2, "y": 2}]
        assert d["b"] == [1, [1], 2]
        upd(coll, {"_id": 1}, {"$pull": {"b": [1]}})
        assert one(coll)["b"] == [1, 2]
        # A document condition never matches scalar elements.
        assert upd(coll, {"_id": 1}, {"$pull": {"s": {"x": 1}}}) == (1, 0, None)

    def test_pull_all_uses_numeric_equality(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 1.0, Int64(1), 2, "1"]}])
        upd(coll, {"_id": 1}, {"$pullAll": {"a": [1]}})
        assert one(coll)["a"] == [2, "1"]

    def test_positional_with_upsert_is_an_error(self, coll: Any) -> None:
        e = write_error(coll, {"zz": 1}, {"$set": {"a.$": 7}}, upsert=True)
        assert e.code == 2

    def test_positional_matches_first_element_from_query(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 5, 5, 7]}])
        upd(coll, {"a": 5}, {"$set": {"a.$": 0}})
        assert one(coll)["a"] == [1, 0, 5, 7]

    def test_all_positional_and_nested_array_filters(self, coll: Any) -> None:
        # reference/operator/update/positional-filtered (nested arrays example)
        load(coll, [{"_id": 1, "grades": [{"type": "quiz", "questions": [10, 8, 5]}, {"type": "quiz", "questions": [8, 9, 6]}, {"type": "hw", "questions": [5, 4, 3]}, {"type": "exam", "questions": [25, 10, 23, 0]}]}])
        coll.update_many({}, {"$inc": {"grades.$[t].questions.$[score]": 2}}, array_filters=[{"t.type": "quiz"}, {"score": {"$gte": 8}}])
        assert one(coll)["grades"] == [
            {"type": "quiz", "questions": [12, 10, 5]},
            {"type": "quiz", "questions": [10, 11, 6]},
            {"type": "hw", "questions": [5, 4, 3]},
            {"type": "exam", "questions": [25, 10, 23, 0]},
        ]
        coll.update_one({}, {"$inc": {"grades.$[].questions.$[s]": 1}}, array_filters=[{"s": 0}])
        assert one(coll)["grades"][3]["questions"] == [25, 10, 23, 1]


class TestUpsertSeeding:
    def test_seed_from_equality_and_and_and_dotted(self, coll: Any) -> None:
        # reference/method/db.collection.update (Upsert behavior): equality conditions,
        # including those in $and and single-clause $or... only equality parts are copied.
        r = coll.update_one({"a": 1, "b.c": 2, "$and": [{"d": 3}, {"e": {"$gt": 1}}]}, {"$set": {"z": 1}}, upsert=True)
        d = coll.find_one({"_id": r.upserted_id}, {"_id": 0})
        assert d == {"a": 1, "b": {"c": 2}, "d": 3, "z": 1}

    def test_seed_ignores_non_equality_operators(self, coll: Any) -> None:
        r = coll.update_one({"a": {"$gt": 1}, "b": {"$elemMatch": {"c": 1}}, "x": {"$exists": True}}, {"$set": {"z": 1}}, upsert=True)
        assert coll.find_one({"_id": r.upserted_id}, {"_id": 0}) == {"z": 1}

    def test_seed_then_apply_operators_on_seeded_fields(self, coll: Any) -> None:
        r = coll.update_one({"a": {"b": 1}, "n": 5}, {"$set": {"a.c": 1}, "$inc": {"n": 1}}, upsert=True)
        assert coll.find_one({"_id": r.upserted_id}, {"_id": 0}) == {"a": {"b": 1, "c": 1}, "n": 6}

    def test_seed_with_conflicting_paths_is_an_error(self, coll: Any) -> None:
        with pytest.raises(WriteError):
            coll.update_one({"a.b": 1, "a": {"c": 2}}, {"$set": {"z": 1}}, upsert=True)

    def test_set_and_set_on_insert_same_field_conflict(self, coll: Any) -> None:
        e = write_error(coll, {"a": 1}, {"$set": {"b": 1}, "$setOnInsert": {"b": 2}}, upsert=True)
        assert e.code == 40

    def test_upsert_id_from_filter_and_result(self, coll: Any) -> None:
        r = coll.update_one({"_id": {"$eq": 5}, "v": None}, {"$set": {"z": 1}}, upsert=True)
        assert (r.matched_count, r.modified_count, r.upserted_id) == (0, 0, 5)
        assert one(coll) == {"_id": 5, "v": None, "z": 1}


class TestUpdatePipelines:
    def test_set_with_expressions_unset_and_replace_with(self, coll: Any) -> None:
        # reference/method/db.collection.updateOne (update with aggregation pipeline)
        load(coll, [{"_id": 1, "a": 2, "b": 3, "tmp": 1, "sub": {"k": 1}}])
        coll.update_one({"_id": 1}, [{"$set": {"sum": {"$add": ["$a", "$b"]}, "a": "$$REMOVE"}}, {"$unset": "tmp"}])
        assert one(coll) == {"_id": 1, "b": 3, "sub": {"k": 1}, "sum": 5}
        coll.update_one({"_id": 1}, [{"$replaceWith": {"$mergeObjects": [{"_id": "$_id"}, "$sub", {"n": "$sum"}]}}])
        assert one(coll) == {"_id": 1, "k": 1, "n": 5}

    def test_pipeline_set_literal_dollar_and_missing_path(self, coll: Any) -> None:
        load(coll, [{"_id": 1}])
        coll.update_one({"_id": 1}, [{"$set": {"p": {"$literal": "$x"}, "q": "$nope"}}])
        assert one(coll) == {"_id": 1, "p": "$x"}

    def test_pipeline_unchanged_value_is_not_modified(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": 1}])
        r = coll.update_one({"_id": 1}, [{"$set": {"a": 1}}])
        assert (r.matched_count, r.modified_count) == (1, 0)


# =============================================================================================
# Results
# =============================================================================================


class TestWriteResults:
    def test_unchanged_value_modified_zero(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": 1, "b": [1, 2]}, {"_id": 2, "a": 1}])
        r = coll.update_many({}, {"$set": {"a": 1}})
        assert (r.matched_count, r.modified_count, r.upserted_id) == (2, 0, None)
        r = coll.update_many({}, {"$addToSet": {"b": 2}})
        assert (r.matched_count, r.modified_count) == (2, 1)
        r = coll.update_one({"_id": 3}, {"$set": {"a": 1}})
        assert (r.matched_count, r.modified_count, r.upserted_id) == (0, 0, None)

    def test_set_same_value_different_numeric_type_is_modified(self, coll: Any) -> None:
        # $set replaces the stored value: 1 (int) -> 1.0 (double) changes the BSON type.
        load(coll, [{"_id": 1, "a": 1}])
        r = coll.update_one({"_id": 1}, {"$set": {"a": 1.0}})
        assert r.modified_count == 1
        assert isinstance(one(coll)["a"], float)

    def test_delete_result_counts(self, coll: Any) -> None:
        load(coll, [{"_id": i, "g": i % 3} for i in range(7)])
        assert coll.delete_one({"g": 0}).deleted_count == 1
        assert coll.delete_many({"g": 0}).deleted_count == 2
        assert coll.delete_many({"g": 9}).deleted_count == 0
        assert coll.delete_many({}).deleted_count == 4

    def test_insert_many_unordered_duplicate_details(self, coll: Any) -> None:
        # reference/method/db.collection.insertMany (Unordered inserts)
        load(coll, [{"_id": 1}])
        with pytest.raises(BulkWriteError) as ei:
            coll.insert_many([{"_id": 2}, {"_id": 1}, {"_id": 3}, {"_id": 2}], ordered=False)
        det = ei.value.details
        assert det["nInserted"] == 2
        assert [(e["index"], e["code"]) for e in det["writeErrors"]] == [(1, 11000), (3, 11000)]
        assert det["writeErrors"][1]["op"]["_id"] == 2
        assert ids(coll.find()) == [1, 2, 3]

    def test_insert_many_ordered_duplicate_details(self, coll: Any) -> None:
        with pytest.raises(BulkWriteError) as ei:
            coll.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}])
        det = ei.value.details
        assert det["nInserted"] == 1
        assert [(e["index"], e["code"]) for e in det["writeErrors"]] == [(1, 11000)]
        assert ids(coll.find()) == [1]

    def test_find_one_and_update_before_after_projection_sort(self, coll: Any) -> None:
        load(coll, [{"_id": i, "g": i % 2, "v": i} for i in range(5)])
        after = coll.find_one_and_update({"g": 0}, {"$inc": {"v": 10}}, sort=[("v", -1)], projection={"v": 1, "_id": 0}, return_document=ReturnDocument.AFTER)
        assert after == {"v": 14}
        before = coll.find_one_and_update({"g": 0}, {"$inc": {"v": 10}}, sort=[("v", -1)], projection={"_id": 0, "g": 0})
        assert before == {"v": 14}
        assert coll.find_one({"_id": 4})["v"] == 24
        assert coll.find_one_and_update({"g": 7}, {"$set": {"v": 0}}) is None
        up = coll.find_one_and_update({"_id": 9}, {"$set": {"v": 0}}, upsert=True, return_document=ReturnDocument.BEFORE)
        assert up is None
        assert coll.find_one_and_update({"_id": 10}, {"$set": {"v": 0}}, upsert=True, return_document=ReturnDocument.AFTER) == {"_id": 10, "v": 0}

    def test_count_documents_skip_limit(self, coll: Any) -> None:
        load(coll, [{"_id": i, "g": i % 2} for i in range(10)])
        assert coll.count_documents({}, skip=2, limit=3) == 3
        assert coll.count_documents({"g": 1}, skip=4) == 1
        assert coll.count_documents({"g": 1}, skip=6) == 0
        assert coll.count_documents({}, limit=100) == 10
        assert coll.estimated_document_count() == 10

    def test_distinct_unwinds_arrays_and_dotted_paths(self, coll: Any) -> None:
        # reference/method/db.collection.distinct: array values are treated as separate values.
        load(
            coll,
            [
                {"_id": 1, "a": [1, 2, [3]], "b": {"c": [{"d": 1}, {"d": 2}]}},
                {"_id": 2, "a": 1, "b": [{"c": {"d": 3}}, {"c": {"d": [4, 1]}}]},
                {"_id": 3, "a": None},
                {"_id": 4, "a": "1"},
            ],
        )
        got = coll.distinct("a")
        assert sorted(map(repr, got)) == sorted(map(repr, [1, 2, [3], None, "1"]))
        assert sorted(coll.distinct("b.c.d")) == [1, 2, 3, 4]
        assert coll.distinct("a.0") == [1]
        assert coll.distinct("a", {"_id": {"$gt": 2}}) in ([None, "1"], ["1", None])


# =============================================================================================
# Aggregation
# =============================================================================================


class TestAggregationStages:
    def test_group_accumulators_with_null_missing_and_non_numeric(self, coll: Any) -> None:
        load(
            coll,
            [
                {"_id": 1, "g": "a", "v": 1},
                {"_id": 2, "g": "a"},
                {"_id": 3, "g": "a", "v": None},
                {"_id": 4, "g": "b", "v": "str"},
                {"_id": 5, "g": "b", "v": [1, 2]},
            ],
        )
        out = agg(
            coll,
            [
                {"$sort": {"_id": 1}},
                {
                    "$group": {
                        "_id": "$g",
                        "sum": {"$sum": "$v"},
                        "avg": {"$avg": "$v"},
                        "min": {"$min": "$v"},
                        "max": {"$max": "$v"},
                        "push": {"$push": "$v"},
                        "first": {"$first": "$v"},
                        "last": {"$last": "$v"},
                        "n": {"$sum": 1},
                    }
                },
                {"$sort": {"_id": 1}},
            ],
        )
        # $sum/$avg ignore non-numeric values; $push skips missing but keeps null;
        # $first/$last return null for null or missing; $min/$max ignore null and missing.
        assert out == [
            {"_id": "a", "sum": 1, "avg": 1.0, "min": 1, "max": 1, "push": [1, None], "first": 1, "last": None, "n": 3},
            {"_id": "b", "sum": 0, "avg": None, "min": "str", "max": [1, 2], "push": ["str", [1, 2]], "first": "str", "last": [1, 2], "n": 2},
        ]

    def test_group_first_of_missing_is_null(self, coll: Any) -> None:
        # reference/operator/aggregation/first (Missing Values)
        load(coll, [{"_id": 1}, {"_id": 2, "v": 5}])
        assert agg(coll, [{"$sort": {"_id": 1}}, {"$group": {"_id": None, "f": {"$first": "$v"}}}]) == [{"_id": None, "f": None}]

    def test_group_compound_key_with_missing_and_null(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": 1, "b": None}, {"_id": 2, "a": 1}, {"_id": 3, "a": 1, "b": 2}])
        out = agg(coll, [{"$group": {"_id": {"a": "$a", "b": "$b"}, "n": {"$sum": 1}}}, {"$sort": {"n": -1}}])
        # A missing field in a compound _id is omitted; null is kept; they are different keys.
        assert {repr(d["_id"]): d["n"] for d in out} == {repr({"a": 1, "b": None}): 1, repr({"a": 1}): 1, repr({"a": 1, "b": 2}): 1}

    def test_group_add_to_set_numeric_equality(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "v": 1}, {"_id": 2, "v": 1.0}, {"_id": 3, "v": Int64(1)}, {"_id": 4, "v": "1"}])
        out = agg(coll, [{"$group": {"_id": None, "s": {"$addToSet": "$v"}}}])
        assert len(out[0]["s"]) == 2

    def test_unwind_options(self, coll: Any) -> None:
        # reference/operator/aggregation/unwind
        load(coll, [{"_id": 1, "v": [1, 2]}, {"_id": 2, "v": []}, {"_id": 3, "v": None}, {"_id": 4}, {"_id": 5, "v": "x"}])
        out = agg(coll, [{"$unwind": {"path": "$v", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": True}}])
        assert out == [
            {"_id": 1, "v": 1, "i": Int64(0)},
            {"_id": 1, "v": 2, "i": Int64(1)},
            {"_id": 2, "i": None},
            {"_id": 3, "v": None, "i": None},
            {"_id": 4, "i": None},
            {"_id": 5, "v": "x", "i": None},
        ]
        assert agg(coll, [{"$unwind": "$v"}]) == [{"_id": 1, "v": 1}, {"_id": 1, "v": 2}, {"_id": 5, "v": "x"}]

    def test_lookup_both_forms(self, db: Any) -> None:
        # reference/operator/aggregation/lookup
        orders = load(db.orders, [{"_id": 1, "item": "almonds", "price": 12, "quantity": 2}, {"_id": 2, "item": "pecans", "price": 20, "quantity": 1}, {"_id": 3}])
        load(
            db.inventory,
            [
                {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
                {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
                {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
                {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
                {"_id": 5, "sku": None, "description": "Incomplete"},
                {"_id": 6},
            ],
        )
        out = agg(orders, [{"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inv"}}, {"$project": {"ids": "$inv._id"}}])
        assert out == [{"_id": 1, "ids": [1]}, {"_id": 2, "ids": [4]}, {"_id": 3, "ids": [5, 6]}]
        out = agg(
            orders,
            [
                {"$match": {"_id": {"$lt": 3}}},
                {
                    "$lookup": {
                        "from": "inventory",
                        "let": {"q": "$quantity"},
                        "pipeline": [{"$match": {"$expr": {"$gt": ["$instock", {"$multiply": ["$$q", 40]}]}}}, {"$project": {"_id": 1}}],
                        "as": "inv",
                    }
                },
            ],
        )
        assert [sorted(x["_id"] for x in d["inv"]) for d in out] == [[1], [1, 2, 3, 4]]

    def test_facet_bucket_and_sort_by_count(self, coll: Any) -> None:
        load(coll, [{"_id": i, "p": p, "t": t} for i, (p, t) in enumerate([(5, "x"), (15, "y"), (25, "x"), (35, "x"), (None, "z")])])
        out = agg(
            coll,
            [
                {
                    "$facet": {
                        "b": [{"$bucket": {"groupBy": "$p", "boundaries": [0, 10, 30], "default": "other", "output": {"n": {"$sum": 1}}}}],
                        "c": [{"$sortByCount": "$t"}, {"$limit": 1}],
                        "e": [{"$match": {"nope": 1}}],
                    }
                }
            ],
        )
        assert out == [{"b": [{"_id": 0, "n": 1}, {"_id": 10, "n": 2}, {"_id": "other", "n": 2}], "c": [{"_id": "x", "count": 3}], "e": []}]

    def test_project_computed_and_array_paths(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [{"b": 1}, {"b": 2}, 3], "x": 9}])
        assert agg(coll, [{"$project": {"r": "$a.b", "x": 1}}]) == [{"_id": 1, "x": 9, "r": [1, 2]}]
        assert agg(coll, [{"$addFields": {"a.c": "$x"}}, {"$project": {"a": 1, "_id": 0}}]) == [{"a": [{"b": 1, "c": 9}, {"b": 2, "c": 9}, {"c": 9}]}]
        with pytest.raises(OperationFailure):
            agg(coll, [{"$project": {"x": 0, "y": "$x"}}])

    def test_replace_root_non_document_is_an_error(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "s": "x"}])
        with pytest.raises(OperationFailure):
            agg(coll, [{"$replaceRoot": {"newRoot": "$s"}}])
        with pytest.raises(OperationFailure):
            agg(coll, [{"$replaceRoot": {"newRoot": "$missing"}}])


class TestAggregationExpressions:
    def test_null_and_missing_propagation(self, coll: Any) -> None:
        doc = {"n": None, "a": "x", "k": 4}
        assert ev(coll, {"$concat": ["a", "$n"]}, doc) is None
        assert ev(coll, {"$concat": ["a", "$missing"]}, doc) is None
        assert ev(coll, {"$add": [1, None]}, doc) is None
        assert ev(coll, {"$add": [1, "$missing"]}, doc) is None
        assert ev(coll, {"$multiply": ["$k", "$missing"]}, doc) is None
        assert ev(coll, {"$subtract": ["$k", None]}, doc) is None
        assert ev(coll, {"$divide": [None, 0]}, doc) is None
        assert ev(coll, {"$toUpper": None}, doc) == ""
        assert ev(coll, {"$toUpper": "$missing"}, doc) == ""
        assert ev(coll, {"$ifNull": ["$missing", "$n", "d"]}, doc) == "d"
        assert ev(coll, {"$abs": None}, doc) is None

    def test_divide_and_mod_by_zero_are_errors(self, coll: Any) -> None:
        for e in ({"$divide": [1, 0]}, {"$mod": [5, 0]}, {"$divide": [1, 0.0]}):
            with pytest.raises(OperationFailure):
                ev(coll, e)

    def test_size_of_non_array_is_an_error(self, coll: Any) -> None:
        with pytest.raises(OperationFailure) as ei:
            ev(coll, {"$size": "$s"}, {"s": "abc"})
        assert ei.value.code == 17124
        with pytest.raises(OperationFailure):
            ev(coll, {"$size": "$missing"})

    def test_substr_and_string_operators(self, coll: Any) -> None:
        # reference/operator/aggregation/substr: a negative length takes the rest of the string.
        assert ev(coll, {"$substr": ["hello", 1, -1]}) == "ello"
        assert ev(coll, {"$substr": ["hello", 10, 2]}) == ""
        assert ev(coll, {"$substrCP": ["héllo", 1, 2]}) == "él"
        assert ev(coll, {"$strLenBytes": "héllo"}) == 6
        assert ev(coll, {"$strLenCP": "héllo"}) == 5
        assert ev(coll, {"$toUpper": 5}) == "5"
        assert ev(coll, {"$split": ["a,b,,c", ","]}) == ["a", "b", "", "c"]
        assert ev(coll, {"$indexOfCP": ["cafétéria", "é"]}) == 3
        assert ev(coll, {"$indexOfBytes": ["cafétéria", "é"]}) == 3
        assert ev(coll, {"$strcasecmp": ["a", "B"]}) == -1
        with pytest.raises(OperationFailure):
            ev(coll, {"$substrBytes": ["héllo", 1, 1]})

    def test_date_to_string(self, coll: Any) -> None:
        # reference/operator/aggregation/dateToString (example date 2014-01-01T08:15:39.736Z)
        doc = {"date": dt.datetime(2014, 1, 1, 8, 15, 39, 736000)}
        assert ev(coll, {"$dateToString": {"format": "%Y-%m-%d", "date": "$date"}}, doc) == "2014-01-01"
        assert ev(coll, {"$dateToString": {"format": "%H:%M:%S:%L%z", "date": "$date", "timezone": "America/New_York"}}, doc) == "03:15:39:736-0500"
        assert ev(coll, {"$dateToString": {"format": "%Z", "date": "$date", "timezone": "America/New_York"}}, doc) == "-300"
        assert ev(coll, {"$dateToString": {"format": "%d/%m/%Y %j %w %U %u %V %G", "date": "$date"}}, doc) == "01/01/2014 001 4 00 3 01 2014"
        assert ev(coll, {"$dateToString": {"date": "$date"}}, doc) == "2014-01-01T08:15:39.736Z"
        assert ev(coll, {"$dateToString": {"date": "$missing"}}, doc) is None
        assert ev(coll, {"$dateToString": {"date": "$missing", "onNull": "none"}}, doc) == "none"

    def test_cond_truthiness(self, coll: Any) -> None:
        # Aggregation truthiness: false, null, 0 and missing are false; everything else
        # (including "", [] and {}) is true.
        for v, want in ((None, 2), ([], 1), (0, 2), (0.0, 2), ("", 1), ({}, 1), (Decimal128("0"), 2), ("$missing", 2)):
            assert ev(coll, {"$cond": [v, 1, 2]}) == want, v

    def test_switch_without_match_and_default_is_an_error(self, coll: Any) -> None:
        with pytest.raises(OperationFailure):
            ev(coll, {"$switch": {"branches": [{"case": False, "then": 1}]}})

    def test_comparison_of_missing_and_null(self, coll: Any) -> None:
        # $cmp/$eq use the BSON comparison order; 1 and Int64(1) are equal.
        assert ev(coll, {"$eq": [1, Int64(1)]}) is True
        assert ev(coll, {"$cmp": [1, "a"]}) == -1
        assert ev(coll, {"$gt": [{"x": 1}, "zzz"]}) is True
        assert ev(coll, {"$lt": [[1], {"x": 1}]}) is False

    def test_date_arithmetic(self, coll: Any) -> None:
        d = dt.datetime(2014, 1, 1)
        assert ev(coll, {"$subtract": ["$d", 1000]}, {"d": d}) == dt.datetime(2013, 12, 31, 23, 59, 59)
        assert ev(coll, {"$subtract": ["$d", "$d"]}, {"d": d}) == 0
        assert ev(coll, {"$add": ["$d", 86400000]}, {"d": d}) == dt.datetime(2014, 1, 2)
        with pytest.raises(OperationFailure):
            ev(coll, {"$add": ["$d", "$d"]}, {"d": d})
        with pytest.raises(OperationFailure):
            ev(coll, {"$subtract": [1000, "$d"]}, {"d": d})

    def test_array_expressions_edges(self, coll: Any) -> None:
        doc = {"s": [3, 1, 2]}
        assert ev(coll, {"$slice": ["$s", -2]}, doc) == [1, 2]
        assert ev(coll, {"$slice": ["$s", -5, 2]}, doc) == [3, 1]
        assert ev(coll, {"$arrayElemAt": ["$s", -1]}, doc) == 2
        assert ev(coll, {"$arrayElemAt": ["$s", 5]}, doc) == "<missing>"
        assert ev(coll, {"$sum": ["$s", 1]}, doc) == 1
        assert ev(coll, {"$sum": "$s"}, doc) == 6
        assert ev(coll, {"$max": "$s"}, doc) == 3
        assert ev(coll, {"$in": [2, "$s"]}, doc) is True
        with pytest.raises(OperationFailure):
            ev(coll, {"$in": [1, "$missing"]}, doc)


# =============================================================================================
# More query / update / expression edges
# =============================================================================================


class TestMoreEdges:
    def test_regex_option_conflict_and_bad_flags(self, coll: Any) -> None:
        # reference/operator/query/regex: options may be given in the regex object or in
        # $options, not both.
        load(coll, [{"_id": 1, "a": "Abc"}, {"_id": 5, "a": ["abc"]}])
        assert q(coll, {"a": {"$regex": Regex("^a", "i")}}) == [1, 5]
        assert q(coll, {"a": {"$options": "i", "$regex": "^a"}}) == [1, 5]
        for bad in ({"$regex": Regex("^a", "i"), "$options": "m"}, {"$regex": "^a", "$options": "q"}, {"$regex": "("}):
            with pytest.raises(OperationFailure):
                list(coll.find({"a": bad}))

    def test_regex_is_not_allowed_in_ne_or_ranges(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": "abc"}])
        for f in ({"a": {"$ne": Regex("^a")}}, {"a": {"$gt": Regex("^a")}}):
            with pytest.raises(OperationFailure):
                list(coll.find(f))

    def test_exists_argument_truthiness_and_all_null(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": "x"}, {"_id": 2, "a": None}, {"_id": 3}, {"_id": 4, "a": [None, 1]}])
        assert q(coll, {"a": {"$exists": 0}}) == [3]
        assert q(coll, {"a": {"$exists": "yes"}}) == [1, 2, 4]
        assert q(coll, {"a": {"$all": [None]}}) == [2, 3, 4]
        assert q(coll, {"a": {"$in": [None], "$exists": True}}) == [2, 4]
        assert q(coll, {"$nor": [{"a": None}]}) == [1]

    def test_empty_logical_arrays_and_type_lists_are_errors(self, coll: Any) -> None:
        load(coll, [{"_id": 1}])
        for f in ({"$and": []}, {"$or": []}, {"a": {"$type": []}}, {"a": {"$type": 100}}):
            with pytest.raises(OperationFailure):
                list(coll.find(f))

    def test_find_one_and_replace_upsert_keeps_only_filter_id(self, coll: Any) -> None:
        doc = coll.find_one_and_replace({"a": 2, "b": {"$gt": 1}}, {"x": 2}, upsert=True, return_document=ReturnDocument.AFTER)
        assert set(doc) == {"_id", "x"} and doc["x"] == 2
        r = coll.replace_one({"_id": 9, "q": 1}, {"z": 1}, upsert=True)
        assert r.upserted_id == 9 and coll.find_one({"_id": 9}) == {"_id": 9, "z": 1}

    def test_find_one_and_delete_sorts_arrays_by_max_descending(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [3, 1]}, {"_id": 2, "a": 2}, {"_id": 3, "a": [5]}])
        assert coll.find_one_and_delete({}, sort=[("a", -1)]) == {"_id": 3, "a": [5]}
        assert coll.find_one_and_delete({}, sort=[("a", 1)]) == {"_id": 1, "a": [3, 1]}

    def test_update_many_upsert_seeds_and_reports(self, coll: Any) -> None:
        r = coll.update_many({"nomatch": 1}, {"$set": {"y": 1}}, upsert=True)
        assert (r.matched_count, r.modified_count) == (0, 0)
        assert coll.find_one({"_id": r.upserted_id}, {"_id": 0}) == {"nomatch": 1, "y": 1}

    def test_bit_mixed_widths_and_missing_field(self, coll: Any) -> None:
        # reference/operator/update/bit
        load(coll, [{"_id": 1, "n": 6}])
        coll.update_one({"_id": 1}, {"$bit": {"n": {"and": Int64(3), "or": 8}, "m": {"xor": 5}}})
        d = one(coll)
        assert d["n"] == 10 and isinstance(d["n"], Int64)
        assert d["m"] == 5

    def test_push_position_negative_with_slice(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 2, 3, 4, 5]}])
        coll.update_one({"_id": 1}, {"$push": {"a": {"$each": [0], "$position": -2, "$slice": -4}}})
        assert one(coll)["a"] == [3, 0, 4, 5]

    def test_array_operator_argument_errors(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 2]}])
        assert write_error(coll, {"_id": 1}, {"$pull": {"a": 1}, "$push": {"a": 1}}).code == 40
        for u in ({"$pop": {"a": 2}}, {"$addToSet": {"a": {"$each": 1}}}, {"$pullAll": {"a": 1}}, {"$push": {"a": {"$each": 1}}}):
            with pytest.raises(WriteError):
                coll.update_one({"_id": 1}, u)
        assert one(coll)["a"] == [1, 2]

    def test_array_filters_edge_cases(self, coll: Any) -> None:
        # reference/operator/update/positional-filtered
        load(coll, [{"_id": 1, "a": [1, 2, 3]}])
        r = coll.update_one({}, {"$set": {"a.$[x]": 0}}, array_filters=[{"x": {"$gt": 5}}])
        assert (r.matched_count, r.modified_count) == (1, 0)
        assert write_error(coll, {}, {"$set": {"b.$[x]": 0}}, array_filters=[{"x": 1}]).code == 2
        assert write_error(coll, {}, {"$set": {"a.$[x]": 0}}, array_filters=[{"x": 1}, {"x": 2}]).code == 9
        with pytest.raises(WriteError):
            coll.update_one({}, {"$set": {"a.$[X]": 0}}, array_filters=[{"X": 1}])
        coll.update_one({}, {"$unset": {"a.$[]": 1}})
        assert one(coll)["a"] == [None, None, None]

    def test_positional_with_other_paths_in_same_update(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "a": [1, 2, 3]}])
        coll.update_one({"a": {"$gt": 1}}, {"$set": {"a.$": 0, "a.0": 5}, "$inc": {"n": 1}})
        assert one(coll) == {"_id": 1, "a": [5, 0, 3], "n": 1}

    def test_unwind_empty_array_on_dotted_path_removes_field(self, coll: Any) -> None:
        # reference/operator/aggregation/unwind: with preserveNullAndEmptyArrays an empty array
        # is output without the field.
        load(coll, [{"_id": 1, "b": {"c": [{"d": 1}, {"d": 2}]}}, {"_id": 2, "b": {"c": []}}])
        out = agg(coll, [{"$unwind": {"path": "$b.c", "preserveNullAndEmptyArrays": True}}])
        assert out == [{"_id": 1, "b": {"c": {"d": 1}}}, {"_id": 1, "b": {"c": {"d": 2}}}, {"_id": 2, "b": {}}]

    def test_group_on_array_key_is_not_unwound(self, coll: Any) -> None:
        load(coll, [{"_id": 1, "k": [1, 2]}, {"_id": 2, "k": [2, 1]}, {"_id": 3, "k": [1, 2]}])
        out = agg(coll, [{"$group": {"_id": "$k", "n": {"$sum": 1}}}, {"$sort": {"n": -1}}])
        assert out == [{"_id": [1, 2], "n": 2}, {"_id": [2, 1], "n": 1}]

    def test_bucket_without_default_out_of_range_is_an_error(self, coll: Any) -> None:
        # reference/operator/aggregation/bucket: values outside the boundaries need a default;
        # the default must lie outside [lowest, highest).
        load(coll, [{"_id": 1}, {"_id": 2}])
        with pytest.raises(OperationFailure):
            agg(coll, [{"$bucket": {"groupBy": "$_id", "boundaries": [1, 2]}}])
        with pytest.raises(OperationFailure):
            agg(coll, [{"$bucket": {"groupBy": "$_id", "boundaries": [1, 2, 3], "default": 2.5}}])

    def test_stage_argument_errors(self, coll: Any) -> None:
        load(coll, [{"_id": 1}])
        for p in ([{"$skip": -1}], [{"$limit": 0}], [{"$count": "$x"}], [{"$group": {"_id": 1, "x": 1}}], [{"$group": {"x": {"$sum": 1}}}]):
            with pytest.raises(OperationFailure):
                agg(coll, p)

    def test_round_half_to_even_and_numeric_result_types(self, coll: Any) -> None:
        # reference/operator/aggregation/round: rounds half to even.
        assert ev(coll, {"$round": [2.5, 0]}) == 2.0
        assert ev(coll, {"$round": [3.5, 0]}) == 4.0
        assert ev(coll, {"$round": [-2.5, 0]}) == -2.0
        assert ev(coll, {"$round": [1234.5678, -2]}) == 1200.0
        assert ev(coll, {"$round": [25, -1]}) == 20
        assert ev(coll, {"$round": [Decimal128("2.5"), 0]}) == Decimal128("2")
        # reference/operator/aggregation/add, multiply: int overflow becomes long.
        v = ev(coll, {"$add": [2147483647, 1]})
        assert v == 2147483648 and isinstance(v, Int64)
        v = ev(coll, {"$multiply": [2147483647, 2]})
        assert v == 4294967294 and isinstance(v, Int64)
        assert isinstance(ev(coll, {"$divide": [6, 3]}), float)
        assert ev(coll, {"$mod": [-7, 2]}) == -1

    def test_conversions_documented_cases(self, coll: Any) -> None:
        # reference/operator/aggregation/{toBool,toInt,toString}
        assert ev(coll, {"$toBool": "false"}) is True
        assert ev(coll, {"$toBool": 0}) is False
        assert ev(coll, {"$toBool": None}) is None
        assert ev(coll, {"$toInt": 1.9}) == 1
        assert ev(coll, {"$toInt": -1.9}) == -1
        assert ev(coll, {"$toString": 2.5}) == "2.5"
        assert ev(coll, {"$toString": True}) == "true"
        assert ev(coll, {"$toString": dt.datetime(2018, 3, 27, 16, 58, 51, 538000)}) == "2018-03-27T16:58:51.538Z"
        with pytest.raises(OperationFailure):
            ev(coll, {"$toInt": "1.5"})

    def test_array_expression_null_propagation(self, coll: Any) -> None:
        for e in ({"$reverseArray": None}, {"$concatArrays": [[1], None]}, {"$map": {"input": None, "in": 1}}, {"$filter": {"input": None, "cond": True}}, {"$indexOfArray": [None, 1]}, {"$setIntersection": [[1], None]}, {"$first": None}):
            assert ev(coll, e) is None, e
        assert ev(coll, {"$allElementsTrue": [[]]}) is True
        assert ev(coll, {"$anyElementTrue": [[]]}) is False
        assert ev(coll, {"$and": []}) is True
        assert ev(coll, {"$or": []}) is False
        assert ev(coll, {"$not": [[]]}) is False
        assert ev(coll, {"$range": [5, 0, -2]}) == [5, 3, 1]
        assert ev(coll, {"$zip": {"inputs": [[1, 2], [3]], "useLongestLength": True, "defaults": [0, 9]}}) == [[1, 3], [2, 9]]
        assert ev(coll, {"$regexFind": {"input": "abc", "regex": "(x)?b"}}) == {"match": "b", "idx": 1, "captures": [None]}
        assert ev(coll, {"$type": "$missing"}) == "missing"

    def test_modified_count_follows_stored_bytes(self, coll: Any) -> None:
        # An update that leaves the document identical is matched but not modified; a
        # reordered embedded document or a numeric type change is a modification.
        load(coll, [{"_id": 1, "d": {"x": 1, "y": 2}, "n": 5}])
        counts = []
        for u in ({"$set": {"d": {"y": 2, "x": 1}}}, {"$set": {"d": {"y": 2, "x": 1}}}, {"$mul": {"n": 1}}, {"$mul": {"n": 1.0}}, {"$min": {"n": 5}}, {"$unset": {"zz": 1}}, {"$setOnInsert": {"q": 1}}):
            r = coll.update_one({"_id": 1}, u)
            counts.append((r.matched_count, r.modified_count))
        assert counts == [(1, 1), (1, 0), (1, 0), (1, 1), (1, 0), (1, 0), (1, 0)]
        assert one(coll) == {"_id": 1, "d": {"y": 2, "x": 1}, "n": 5.0}
        assert list(one(coll)["d"]) == ["y", "x"]

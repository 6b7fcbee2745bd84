"""Conformance tests: the MongoDB query language, projection, sort and reads through
``nestdb.MongoClient``, written from the MongoDB manual's documented behaviour and example
results (the manual's example collections are reused where the manual has one).

Manual pages used (docs.mongodb.com / mongodb.com/docs/manual):
- reference/operator/query/{eq,ne,gt,lt,in,nin,and,or,nor,not,exists,type,regex,mod,expr,
  elemMatch,all,size}
- tutorial/query-embedded-documents, query-arrays, query-array-of-documents,
  query-for-null-fields, project-fields-from-query-results
- reference/operator/projection/{positional,elemMatch,slice}
- reference/bson-type-comparison-order, reference/method/cursor.sort, cursor.limit,
  db.collection.distinct, db.collection.countDocuments
- reference/bson-types/migrate-undefined (null equality, $in)

Every expectation is the manual's result; a failing test here is a conformance bug.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Iterable, List

import pytest

import nestdb
from nestdb import ASCENDING, DESCENDING, Decimal128, Int64, MaxKey, MinKey, MongoClient, ObjectId, Regex, Timestamp
from nestdb.errors import InvalidOperation, OperationFailure

pytestmark = pytest.mark.skipif(
    not hasattr(nestdb._nestdb.Database, "_doc_command"), reason="the native layer has no document commands yet"
)


@pytest.fixture
def coll(client: MongoClient) -> Any:
    return client.conf.coll


def ids(cursor: Iterable[Any]) -> List[Any]:
    """The _ids of a result, sorted (for set-like comparisons)."""
    return sorted(doc["_id"] for doc in cursor)


def ordered_ids(cursor: Iterable[Any]) -> List[Any]:
    return [doc["_id"] for doc in cursor]


def items(cursor: Iterable[Any]) -> List[str]:
    return sorted(doc["item"] for doc in cursor)


def raises_failure(coll: Any, filter: Any, projection: Any = None) -> None:
    with pytest.raises(OperationFailure):
        list(coll.find(filter, projection))


# --- manual example collections -------------------------------------------------------------

INVENTORY_EMBEDDED = [  # tutorial/query-embedded-documents
    {"item": "journal", "qty": 25, "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A"},
    {"item": "notebook", "qty": 50, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "A"},
    {"item": "paper", "qty": 100, "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "D"},
    {"item": "planner", "qty": 75, "size": {"h": 22.85, "w": 30, "uom": "cm"}, "status": "D"},
    {"item": "postcard", "qty": 45, "size": {"h": 10, "w": 15.25, "uom": "cm"}, "status": "A"},
]

INVENTORY_ARRAYS = [  # tutorial/query-arrays
    {"item": "journal", "qty": 25, "tags": ["blank", "red"], "dim_cm": [14, 21]},
    {"item": "notebook", "qty": 50, "tags": ["red", "blank"], "dim_cm": [14, 21]},
    {"item": "paper", "qty": 100, "tags": ["red", "blank", "plain"], "dim_cm": [14, 21]},
    {"item": "planner", "qty": 75, "tags": ["blank", "red"], "dim_cm": [22.85, 30]},
    {"item": "postcard", "qty": 45, "tags": ["blue"], "dim_cm": [10, 15.25]},
]

INVENTORY_INSTOCK = [  # tutorial/query-array-of-documents
    {"item": "journal", "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]},
    {"item": "notebook", "instock": [{"warehouse": "C", "qty": 5}]},
    {"item": "paper", "instock": [{"warehouse": "A", "qty": 60}, {"warehouse": "B", "qty": 15}]},
    {"item": "planner", "instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 5}]},
    {"item": "postcard", "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
]

INVENTORY_PROJECTION = [  # tutorial/project-fields-from-query-results
    {"item": "journal", "status": "A", "size": {"h": 14, "w": 21, "uom": "cm"}, "instock": [{"warehouse": "A", "qty": 5}]},
    {"item": "notebook", "status": "A", "size": {"h": 8.5, "w": 11, "uom": "in"}, "instock": [{"warehouse": "C", "qty": 5}]},
    {"item": "paper", "status": "D", "size": {"h": 8.5, "w": 11, "uom": "in"}, "instock": [{"warehouse": "A", "qty": 60}]},
    {"item": "planner", "status": "D", "size": {"h": 22.85, "w": 30, "uom": "cm"}, "instock": [{"warehouse": "A", "qty": 40}]},
    {
        "item": "postcard",
        "status": "A",
        "size": {"h": 10, "w": 15.25, "uom": "cm"},
        "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}],
    },
]


# =============================================================================================
# $eq / equality
# =============================================================================================


class TestEquality:
    EQ_DOCS = [  # reference/operator/query/eq
        {"_id": 1, "item": {"name": "ab", "code": "123"}, "qty": 15, "tags": ["A", "B", "C"]},
        {"_id": 2, "item": {"name": "cd", "code": "123"}, "qty": 20, "tags": ["B"]},
        {"_id": 3, "item": {"name": "ij", "code": "456"}, "qty": 25, "tags": ["A", "B"]},
        {"_id": 4, "item": {"name": "xy", "code": "456"}, "qty": 30, "tags": ["B", "A"]},
        {"_id": 5, "item": {"name": "mn", "code": "000"}, "qty": 20, "tags": [["A", "B"], "C"]},
    ]

    def test_eq_scalar_and_implicit(self, coll: Any) -> None:
        coll.insert_many(self.EQ_DOCS)
        assert ids(coll.find({"qty": {"$eq": 20}})) == [2, 5]
        assert ids(coll.find({"qty": 20})) == [2, 5]

    def test_eq_embedded_field(self, coll: Any) -> None:
        coll.insert_many(self.EQ_DOCS)
        assert ids(coll.find({"item.name": {"$eq": "ab"}})) == [1]

    def test_eq_array_element(self, coll: Any) -> None:
        coll.insert_many(self.EQ_DOCS)
        # "B" is an element of 1..4; _id 5 only holds "B" inside a nested array
        assert ids(coll.find({"tags": {"$eq": "B"}})) == [1, 2, 3, 4]

    def test_eq_whole_array_or_nested_array_element(self, coll: Any) -> None:
        coll.insert_many(self.EQ_DOCS)
        assert ids(coll.find({"tags": {"$eq": ["A", "B"]}})) == [3, 5]
        assert ids(coll.find({"tags": ["A", "B"]})) == [3, 5]

    def test_eq_embedded_document_exact(self, coll: Any) -> None:
        coll.insert_many(self.EQ_DOCS)
        assert ids(coll.find({"item": {"$eq": {"name": "ab", "code": "123"}}})) == [1]

    def test_embedded_document_field_order_matters(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        assert items(coll.find({"size": {"h": 14, "w": 21, "uom": "cm"}})) == ["journal"]
        assert items(coll.find({"size": {"w": 21, "h": 14, "uom": "cm"}})) == []
        # a subset of the fields is not equal either
        assert items(coll.find({"size": {"h": 14, "w": 21}})) == []

    def test_eq_regex_operand_matches_only_regex_values(self, coll: Any) -> None:
        # $eq page, "Regex Match Behaviour"
        coll.insert_many([{"_id": 1, "company": "MongoDB"}, {"_id": 2, "company": "MongoDB2"}])
        assert ids(coll.find({"company": "MongoDB"})) == [1]
        assert ids(coll.find({"company": {"$eq": "MongoDB"}})) == [1]
        assert ids(coll.find({"company": {"$eq": re.compile("MongoDB")}})) == []
        assert ids(coll.find({"company": re.compile("MongoDB")})) == [1, 2]
        assert ids(coll.find({"company": {"$regex": re.compile("MongoDB")}})) == [1, 2]

    def test_numeric_types_compare_equal(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "n": 1},
                {"_id": 2, "n": 1.0},
                {"_id": 3, "n": Int64(1)},
                {"_id": 4, "n": Decimal128("1")},
                {"_id": 5, "n": Decimal128("1.00")},
                {"_id": 6, "n": 2},
                {"_id": 7, "n": "1"},
            ]
        )
        assert ids(coll.find({"n": 1})) == [1, 2, 3, 4, 5]
        assert ids(coll.find({"n": Decimal128("1.0")})) == [1, 2, 3, 4, 5]
        assert ids(coll.find({"n": 1.0})) == [1, 2, 3, 4, 5]

    def test_decimal128_and_double_compare_by_exact_value(self, coll: Any) -> None:
        # mongo shell "Data Types", Decimal128 "Equality and Sort Order": the double 9.99 is
        # not equal to NumberDecimal("9.99"); 10, NumberLong(10), NumberDecimal("10.0") are
        coll.insert_many(
            [
                {"_id": 1, "val": Decimal128("9.99"), "description": "Decimal"},
                {"_id": 2, "val": 9.99, "description": "Double"},
                {"_id": 3, "val": 10.0, "description": "Double"},
                {"_id": 4, "val": Int64(10), "description": "Long"},
                {"_id": 5, "val": Decimal128("10.0"), "description": "Decimal"},
            ]
        )
        assert ids(coll.find({"val": 9.99})) == [2]
        assert ids(coll.find({"val": Decimal128("9.99")})) == [1]
        assert ids(coll.find({"val": 10})) == [3, 4, 5]
        assert ids(coll.find({"val": Decimal128("10")})) == [3, 4, 5]

    def test_decimal128_and_double_range_is_exact(self, coll: Any) -> None:
        # the double nearest 9.99 is 9.9900000000000002131628..., above the decimal 9.99;
        # the decimal 9007199254740993 is not the double 9007199254740992
        coll.insert_many(
            [
                {"_id": 1, "v": 9.99},
                {"_id": 2, "v": Decimal128("9.99")},
                {"_id": 3, "v": 9007199254740992.0},
                {"_id": 4, "v": Int64(9007199254740993)},
            ]
        )
        assert ids(coll.find({"v": {"$gt": Decimal128("9.99"), "$lt": 10}})) == [1]
        assert ids(coll.find({"v": {"$lt": 9.99}})) == [2]
        assert ids(coll.find({"v": Decimal128("9007199254740993")})) == [4]
        assert ids(coll.find({"v": {"$gt": 9007199254740992.0}})) == [4]

    def test_array_of_arrays_equality_one_level_only(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": [[1, 2], [3]]}, {"_id": 2, "a": [1, 2]}, {"_id": 3, "a": [[2, 1]]}])
        assert ids(coll.find({"a": [1, 2]})) == [1, 2]
        # 1 is not an element of a top-level array in _id 1 or 3 (only nested)
        assert ids(coll.find({"a": 1})) == [2]

    def test_numeric_path_into_nested_array(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": [[1, 2], [3]]}, {"_id": 2, "a": [[5], [1]]}])
        # "a.0" is the first element itself: it equals [1, 2] (the whole nested array)
        assert ids(coll.find({"a.0": [1, 2]})) == [1]
        assert ids(coll.find({"a.1": [1]})) == [2]
        assert ids(coll.find({"a.0.1": 2})) == [1]

    def test_dates_and_object_ids(self, coll: Any) -> None:
        d1 = datetime.datetime(2020, 1, 1)
        oid = ObjectId()
        coll.insert_many([{"_id": 1, "d": d1, "o": oid}, {"_id": 2, "d": datetime.datetime(2021, 1, 1), "o": ObjectId()}])
        assert ids(coll.find({"d": d1})) == [1]
        assert ids(coll.find({"o": oid})) == [1]

    def test_bool_is_not_number(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "v": True}, {"_id": 2, "v": 1}, {"_id": 3, "v": False}, {"_id": 4, "v": 0}])
        assert ids(coll.find({"v": True})) == [1]
        assert ids(coll.find({"v": 1})) == [2]
        assert ids(coll.find({"v": False})) == [3]


# =============================================================================================
# $ne
# =============================================================================================


class TestNe:
    def test_ne_includes_missing_field(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "quantity": 20}, {"_id": 2, "quantity": 5}, {"_id": 3}])
        assert ids(coll.find({"quantity": {"$ne": 20}})) == [2, 3]

    def test_ne_on_array_excludes_any_matching_element(self, coll: Any) -> None:
        coll.insert_many(TestEquality.EQ_DOCS)
        assert ids(coll.find({"tags": {"$ne": "B"}})) == [5]
        assert ids(coll.find({"tags": {"$ne": ["A", "B"]}})) == [1, 2, 4]

    def test_ne_null_means_exists_and_not_null(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": None}, {"_id": 2}, {"_id": 3, "a": 0}, {"_id": 4, "a": [None, 1]}])
        assert ids(coll.find({"a": {"$ne": None}})) == [3]


# =============================================================================================
# $gt / $gte / $lt / $lte
# =============================================================================================


class TestComparison:
    def test_range_across_numeric_types(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "n": 1},
                {"_id": 2, "n": 1.5},
                {"_id": 3, "n": Int64(2)},
                {"_id": 4, "n": Decimal128("2.5")},
                {"_id": 5, "n": 3},
                {"_id": 6, "n": "2"},
                {"_id": 7},
            ]
        )
        assert ids(coll.find({"n": {"$gt": 1}})) == [2, 3, 4, 5]
        assert ids(coll.find({"n": {"$gte": 2}})) == [3, 4, 5]
        assert ids(coll.find({"n": {"$lt": Decimal128("2.5")}})) == [1, 2, 3]
        assert ids(coll.find({"n": {"$lte": Int64(2)}})) == [1, 2, 3]
        assert ids(coll.find({"n": {"$gt": 1.2, "$lt": 2.7}})) == [2, 3, 4]

    def test_large_int64_compared_exactly_against_double(self, coll: Any) -> None:
        big = 2**53
        coll.insert_many([{"_id": 1, "n": Int64(big + 1)}, {"_id": 2, "n": Int64(big)}])
        assert ids(coll.find({"n": {"$gt": float(big)}})) == [1]
        assert ids(coll.find({"n": float(big)})) == [2]

    def test_type_bracketing(self, coll: Any) -> None:
        # comparison operators only compare values of the same BSON type bracket
        coll.insert_many(
            [
                {"_id": 1, "v": 5},
                {"_id": 2, "v": "abc"},
                {"_id": 3, "v": datetime.datetime(2020, 1, 1)},
                {"_id": 4, "v": None},
                {"_id": 5, "v": True},
                {"_id": 6, "v": {"x": 1}},
            ]
        )
        assert ids(coll.find({"v": {"$gt": 0}})) == [1]
        assert ids(coll.find({"v": {"$lt": "zzz"}})) == [2]
        assert ids(coll.find({"v": {"$gte": ""}})) == [2]
        assert ids(coll.find({"v": {"$gt": datetime.datetime(2000, 1, 1)}})) == [3]
        assert ids(coll.find({"v": {"$lt": 100}})) == [1]

    def test_string_comparison_is_binary(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "s": "Banana"}, {"_id": 2, "s": "apple"}, {"_id": 3, "s": "cherry"}])
        assert ids(coll.find({"s": {"$lt": "a"}})) == [1]  # "B" (0x42) < "a" (0x61)
        assert ids(coll.find({"s": {"$gt": "apple"}})) == [3]

    def test_dates(self, coll: Any) -> None:
        coll.insert_many([{"_id": i, "d": datetime.datetime(2020, i, 1)} for i in range(1, 6)])
        assert ids(coll.find({"d": {"$gte": datetime.datetime(2020, 3, 1), "$lt": datetime.datetime(2020, 5, 1)}})) == [3, 4]

    def test_missing_field_does_not_match_range(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "qty": 10}, {"_id": 2}, {"_id": 3, "qty": None}])
        assert ids(coll.find({"qty": {"$lt": 20}})) == [1]
        assert ids(coll.find({"qty": {"$gte": 0}})) == [1]

    def test_array_matches_if_any_element_matches(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        assert items(coll.find({"dim_cm": {"$gt": 25}})) == ["planner"]

    def test_compound_range_on_array_can_use_different_elements(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        assert items(coll.find({"dim_cm": {"$gt": 15, "$lt": 20}})) == ["journal", "notebook", "paper", "postcard"]

    def test_array_index_position(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        assert items(coll.find({"dim_cm.1": {"$gt": 25}})) == ["planner"]

    def test_embedded_field_range(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        assert items(coll.find({"size.h": {"$lt": 15}})) == ["journal", "notebook", "paper", "postcard"]
        assert items(coll.find({"size.h": {"$lt": 15}, "size.uom": "in", "status": "D"})) == ["paper"]


# =============================================================================================
# $in / $nin
# =============================================================================================


class TestInNin:
    def test_in_values(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        assert len(list(coll.find({"status": {"$in": ["A", "D"]}}))) == 5
        assert items(coll.find({"qty": {"$in": [25, 75.0, Int64(100)]}})) == ["journal", "paper", "planner"]

    def test_in_matches_array_elements(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        assert items(coll.find({"tags": {"$in": ["plain", "blue"]}})) == ["paper", "postcard"]

    def test_in_with_regex(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "tags": ["school", "book"]},
                {"_id": 2, "tags": ["best", "seller"]},
                {"_id": 3, "tags": ["student"]},
                {"_id": 4, "tags": "bee"},
                {"_id": 5, "tags": ["other"]},
            ]
        )
        assert ids(coll.find({"tags": {"$in": [re.compile("^be"), re.compile("^st")]}})) == [2, 3, 4]

    def test_in_with_null_matches_missing(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": None}, {"_id": 2}, {"_id": 3, "a": 5}, {"_id": 4, "a": 6}])
        assert ids(coll.find({"a": {"$in": [None, 5]}})) == [1, 2, 3]

    def test_in_empty_matches_nothing(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": 1}, {"_id": 2}])
        assert ids(coll.find({"a": {"$in": []}})) == []

    def test_nin_includes_missing(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "quantity": 5}, {"_id": 2, "quantity": 15}, {"_id": 3, "quantity": 20}, {"_id": 4}])
        assert ids(coll.find({"quantity": {"$nin": [5, 15]}})) == [3, 4]

    def test_nin_on_arrays(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        assert items(coll.find({"tags": {"$nin": ["red", "plain"]}})) == ["postcard"]

    def test_in_requires_array(self, coll: Any) -> None:
        coll.insert_one({"a": 1})
        raises_failure(coll, {"a": {"$in": 1}})
        raises_failure(coll, {"a": {"$nin": "x"}})

    def test_in_cannot_nest_operators(self, coll: Any) -> None:
        coll.insert_one({"a": 1})
        raises_failure(coll, {"a": {"$in": [{"$gt": 0}]}})


# =============================================================================================
# logical: $and / $or / $nor / $not
# =============================================================================================


class TestLogical:
    def test_and_or_combination(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        got = items(coll.find({"status": "A", "$or": [{"qty": {"$lt": 30}}, {"item": re.compile("^p")}]}))
        assert got == ["journal", "postcard"]

    def test_explicit_and_same_field(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "price": 1.99}, {"_id": 2, "price": 2.5}, {"_id": 3}])
        assert ids(coll.find({"$and": [{"price": {"$ne": 1.99}}, {"price": {"$exists": True}}]})) == [2]

    def test_nested_and_or(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "qty": 5, "sale": True, "price": 1},
                {"_id": 2, "qty": 50, "sale": False, "price": 20},
                {"_id": 3, "qty": 5, "sale": False, "price": 20},
                {"_id": 4, "qty": 50, "sale": True, "price": 1},
            ]
        )
        q = {"$and": [{"$or": [{"qty": {"$lt": 10}}, {"qty": {"$gt": 50}}]}, {"$or": [{"sale": True}, {"price": {"$lt": 5}}]}]}
        assert ids(coll.find(q)) == [1]

    def test_nor_matches_missing_fields(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "price": 1.99, "sale": True},
                {"_id": 2, "price": 1.99},
                {"_id": 3, "price": 5, "sale": True},
                {"_id": 4, "price": 5, "sale": False},
                {"_id": 5, "sale": False},
                {"_id": 6},
            ]
        )
        assert ids(coll.find({"$nor": [{"price": 1.99}, {"sale": True}]})) == [4, 5, 6]

    def test_not_includes_missing_field(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "price": 1.99}, {"_id": 2, "price": 2.5}, {"_id": 3}])
        assert ids(coll.find({"price": {"$not": {"$gt": 1.99}}})) == [1, 3]

    def test_not_with_regex_object_and_regex_operator(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "item": "pencil"}, {"_id": 2, "item": "eraser"}, {"_id": 3}, {"_id": 4, "item": "Paper"}])
        assert ids(coll.find({"item": {"$not": re.compile("^p.*")}})) == [2, 3, 4]
        assert ids(coll.find({"item": {"$not": {"$regex": "^p.*"}}})) == [2, 3, 4]
        assert ids(coll.find({"item": {"$not": Regex("^p.*", "i")}})) == [2, 3]

    def test_not_on_array(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        # $not {$gt: 20}: no element is > 20
        assert items(coll.find({"dim_cm": {"$not": {"$gt": 20}}})) == ["postcard"]

    def test_or_with_single_clause_and_nested_fields(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        assert items(coll.find({"$or": [{"size.uom": "in"}]})) == ["notebook", "paper"]

    @pytest.mark.parametrize(
        "filter",
        [
            {"$and": []},
            {"$or": []},
            {"$nor": []},
            {"$and": {"a": 1}},
            {"$or": [1, 2]},
            {"a": {"$not": 5}},
            {"$not": {"a": 1}},
        ],
        ids=["and-empty", "or-empty", "nor-empty", "and-not-array", "or-non-doc-entries", "not-scalar", "not-top-level"],
    )
    def test_malformed_logical_operators_raise(self, coll: Any, filter: Any) -> None:
        coll.insert_one({"a": 1})
        raises_failure(coll, filter)


# =============================================================================================
# null / missing, $exists
# =============================================================================================


class TestNullAndExists:
    def test_null_equality_matches_null_and_missing(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "item": None}, {"_id": 2}])
        assert ids(coll.find({"item": None})) == [1, 2]
        assert ids(coll.find({"item": {"$eq": None}})) == [1, 2]

    def test_null_type_check(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "item": None}, {"_id": 2}])
        assert ids(coll.find({"item": {"$type": 10}})) == [1]
        assert ids(coll.find({"item": {"$type": "null"}})) == [1]

    def test_exists_false(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "item": None}, {"_id": 2}])
        assert ids(coll.find({"item": {"$exists": False}})) == [2]

    def test_null_matches_array_containing_null(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "name": None}, {"_id": 3, "name": ["Gabriel", None]}, {"_id": 4, "names": ["Alice"]}, {"_id": 5, "name": ["x"]}])
        assert ids(coll.find({"name": None})) == [1, 3, 4]

    def test_null_on_dotted_path_through_array(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": [{"b": 1}, {"c": 2}]}, {"_id": 2, "a": [{"b": 1}]}, {"_id": 3, "a": {"b": None}}])
        # _id 1: second element has no b; _id 3: b is null
        assert ids(coll.find({"a.b": None})) == [1, 3]

    SPICES = [  # reference/operator/query/exists
        {"_id": 1, "saffron": 5, "cinnamon": 5, "mustard": None},
        {"_id": 2, "saffron": 3, "cinnamon": None, "mustard": 8},
        {"_id": 3, "saffron": None, "cinnamon": 3, "mustard": 9},
        {"_id": 4, "saffron": 1, "cinnamon": 2, "mustard": 3},
        {"_id": 5, "saffron": 2, "mustard": 5},
        {"_id": 6, "saffron": 3, "cinnamon": 2},
        {"_id": 7, "saffron": 4},
        {"_id": 8, "cinnamon": 2, "mustard": 4},
        {"_id": 9, "cinnamon": 2},
        {"_id": 10, "mustard": 6},
    ]

    def test_exists_true_includes_null_values(self, coll: Any) -> None:
        coll.insert_many(self.SPICES)
        assert ids(coll.find({"saffron": {"$exists": True}})) == [1, 2, 3, 4, 5, 6, 7]
        assert ids(coll.find({"cinnamon": {"$exists": False}})) == [5, 7, 10]

    def test_exists_truthy_numbers(self, coll: Any) -> None:
        coll.insert_many(self.SPICES)
        assert ids(coll.find({"cinnamon": {"$exists": 1}})) == [1, 2, 3, 4, 6, 8, 9]
        assert ids(coll.find({"cinnamon": {"$exists": 0}})) == [5, 7, 10]

    def test_exists_with_nin(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "qty": 5}, {"_id": 2, "qty": 15}, {"_id": 3, "qty": 20}, {"_id": 4}])
        assert ids(coll.find({"qty": {"$exists": True, "$nin": [5, 15]}})) == [3]

    def test_exists_on_array_index_and_embedded(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": [1]}, {"_id": 2, "a": [1, 2]}, {"_id": 3, "a": [{"b": 1}, {"c": 1}]}, {"_id": 4, "a": {"b": 2}}])
        assert ids(coll.find({"a.1": {"$exists": True}})) == [2, 3]
        assert ids(coll.find({"a.b": {"$exists": True}})) == [3, 4]
        assert ids(coll.find({"a.c": {"$exists": False}})) == [1, 2, 4]


# =============================================================================================
# $type
# =============================================================================================


class TestType:
    ADDRESSES = [  # reference/operator/query/type
        {"_id": 1, "address": "2030 Martian Way", "zipCode": "90698345"},
        {"_id": 2, "address": "156 Lunar Place", "zipCode": 43339374.0},
        {"_id": 3, "address": "2324 Pluto Place", "zipCode": Int64(3921412)},
        {"_id": 4, "address": "55 Saturn Ring", "zipCode": 88602117},
        {"_id": 5, "address": "104 Venus Drive", "zipCode": ["834847278", "1893289032"]},
    ]

    def test_type_string_alias_and_number(self, coll: Any) -> None:
        coll.insert_many(self.ADDRESSES)
        assert ids(coll.find({"zipCode": {"$type": 2}})) == [1, 5]
        assert ids(coll.find({"zipCode": {"$type": "string"}})) == [1, 5]

    def test_type_numeric_aliases(self, coll: Any) -> None:
        coll.insert_many(self.ADDRESSES)
        assert ids(coll.find({"zipCode": {"$type": 1}})) == [2]
        assert ids(coll.find({"zipCode": {"$type": "double"}})) == [2]
        assert ids(coll.find({"zipCode": {"$type": "long"}})) == [3]
        assert ids(coll.find({"zipCode": {"$type": "int"}})) == [4]
        assert ids(coll.find({"zipCode": {"$type": 16}})) == [4]

    def test_type_number_alias(self, coll: Any) -> None:
        coll.insert_many(self.ADDRESSES + [{"_id": 6, "zipCode": Decimal128("12345")}])
        assert ids(coll.find({"zipCode": {"$type": "number"}})) == [2, 3, 4, 6]
        assert ids(coll.find({"zipCode": {"$type": "decimal"}})) == [6]

    def test_type_list_of_types(self, coll: Any) -> None:
        coll.insert_many(self.ADDRESSES)
        assert ids(coll.find({"zipCode": {"$type": ["string", "double"]}})) == [1, 2, 5]
        assert ids(coll.find({"zipCode": {"$type": [2, "long"]}})) == [1, 3, 5]

    def test_type_array(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "readings": [25, 23, ["Warm"], ["Hot"], ["Cold"]]},
                {"_id": 2, "readings": [25, 25, 24, 23]},
                {"_id": 3, "readings": [22, 24, []]},
                {"_id": 4, "readings": []},
                {"_id": 5, "readings": 24},
            ]
        )
        assert ids(coll.find({"readings": {"$type": "array"}})) == [1, 2, 3, 4]
        assert ids(coll.find({"readings": {"$type": 4}})) == [1, 2, 3, 4]
        # elements are checked too
        assert ids(coll.find({"readings": {"$type": "int"}})) == [1, 2, 3, 5]

    def test_type_other_bson_types(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "v": ObjectId()},
                {"_id": 2, "v": True},
                {"_id": 3, "v": datetime.datetime(2020, 1, 1)},
                {"_id": 4, "v": {"x": 1}},
                {"_id": 5, "v": Regex("a", "i")},
                {"_id": 6, "v": b"\x00\x01"},
                {"_id": 7, "v": Timestamp(1, 1)},
                {"_id": 8, "v": MinKey()},
                {"_id": 9, "v": MaxKey()},
            ]
        )
        expected = {
            "objectId": 1,
            "bool": 2,
            "date": 3,
            "object": 4,
            "regex": 5,
            "binData": 6,
            "timestamp": 7,
            "minKey": 8,
            "maxKey": 9,
        }
        for alias, _id in expected.items():
            assert ids(coll.find({"v": {"$type": alias}})) == [_id], alias
        assert ids(coll.find({"v": {"$type": -1}})) == [8]
        assert ids(coll.find({"v": {"$type": 127}})) == [9]

    def test_type_unknown_alias_raises(self, coll: Any) -> None:
        coll.insert_one({"a": 1})
        raises_failure(coll, {"a": {"$type": "notatype"}})
        raises_failure(coll, {"a": {"$type": 100}})


# =============================================================================================
# $regex
# =============================================================================================


class TestRegex:
    PRODUCTS = [  # reference/operator/query/regex
        {"_id": 100, "sku": "abc123", "description": "Single line description."},
        {"_id": 101, "sku": "abc789", "description": "First line\nSecond line"},
        {"_id": 102, "sku": "xyz456", "description": "Many spaces before     line"},
        {"_id": 103, "sku": "xyz789", "description": "Multiple\nline description"},
        {"_id": 104, "sku": "Abc789", "description": "SKU starts with A"},
    ]

    def test_like_match(self, coll: Any) -> None:
        coll.insert_many(self.PRODUCTS)
        assert ids(coll.find({"sku": {"$regex": "789$"}})) == [101, 103, 104]
        assert ids(coll.find({"sku": {"$regex": re.compile("789$")}})) == [101, 103, 104]
        assert ids(coll.find({"sku": re.compile("789$")})) == [101, 103, 104]

    def test_case_insensitive(self, coll: Any) -> None:
        coll.insert_many(self.PRODUCTS)
        assert ids(coll.find({"sku": {"$regex": "^ABC", "$options": "i"}})) == [100, 101, 104]
        assert ids(coll.find({"sku": re.compile("^ABC", re.IGNORECASE)})) == [100, 101, 104]
        assert ids(coll.find({"sku": Regex("^ABC", "i")})) == [100, 101, 104]

    def test_multiline_anchor(self, coll: Any) -> None:
        coll.insert_many(self.PRODUCTS)
        assert ids(coll.find({"description": {"$regex": "^S", "$options": "m"}})) == [100, 101, 104]
        assert ids(coll.find({"description": {"$regex": "^S"}})) == [100, 104]
        assert ids(coll.find({"description": re.compile("^S", re.M)})) == [100, 101, 104]

    def test_dot_all(self, coll: Any) -> None:
        coll.insert_many(self.PRODUCTS)
        assert ids(coll.find({"description": {"$regex": "m.*line", "$options": "si"}})) == [102, 103]
        assert ids(coll.find({"description": {"$regex": "m.*line", "$options": "i"}})) == [102]
        assert ids(coll.find({"description": re.compile("m.*line", re.S | re.I)})) == [102, 103]

    def test_extended_ignores_whitespace_and_comments(self, coll: Any) -> None:
        coll.insert_many(self.PRODUCTS)
        pattern = "abc #category code\n123 #item number"
        assert ids(coll.find({"sku": {"$regex": pattern, "$options": "x"}})) == [100]
        assert ids(coll.find({"sku": re.compile(pattern, re.X)})) == [100]

    def test_regex_object_with_options_field(self, coll: Any) -> None:
        coll.insert_many(self.PRODUCTS)
        # { $regex: /pattern/, $options: "i" } (a Python re.compile always carries the "u" flag,
        # and options may not be set in both places, so use a flag-less Regex)
        assert ids(coll.find({"sku": {"$regex": Regex("^abc"), "$options": "i"}})) == [100, 101, 104]

    def test_regex_in_operator_list(self, coll: Any) -> None:
        coll.insert_many(self.PRODUCTS)
        assert ids(coll.find({"sku": {"$in": [re.compile("^ABC", re.I), re.compile("^xyz4")]}})) == [100, 101, 102, 104]

    def test_regex_matches_array_elements_not_numbers(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "t": ["alpha", "beta"]}, {"_id": 2, "t": ["gamma"]}, {"_id": 3, "t": 123}, {"_id": 4, "t": "1234"}])
        assert ids(coll.find({"t": re.compile("^b")})) == [1]
        assert ids(coll.find({"t": {"$regex": "^12"}})) == [4]

    def test_regex_unanchored_and_special_chars(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "s": "a.b"}, {"_id": 2, "s": "axb"}, {"_id": 3, "s": "A.B"}])
        assert ids(coll.find({"s": {"$regex": r"\."}})) == [1, 3]
        assert ids(coll.find({"s": {"$regex": "a.b"}})) == [1, 2]

    def test_inline_multiline_flag(self, coll: Any) -> None:
        # PCRE inline option (?m) is the same as the m option: ^ and $ match at line breaks
        coll.insert_many([{"_id": 1, "s": "a\nb"}, {"_id": 2, "s": "b\na"}, {"_id": 3, "s": "ab"}])
        assert ids(coll.find({"s": {"$regex": "^a$", "$options": "m"}})) == [1, 2]
        assert ids(coll.find({"s": {"$regex": "(?m)^a$"}})) == [1, 2]
        assert ids(coll.find({"s": {"$regex": "(?m)a$"}})) == [1, 2]

    def test_pcre_unicode_properties_and_braced_hex(self, coll: Any) -> None:
        # MongoDB's regexes are PCRE with UTF-8 support: \p{..}, \P{..} and \x{hhhh}
        coll.insert_many([{"_id": 1, "s": "A"}, {"_id": 2, "s": "é"}, {"_id": 3, "s": "É"}, {"_id": 4, "s": "1"}, {"_id": 5, "s": "😀"}])
        assert ids(coll.find({"s": {"$regex": r"^\p{Lu}$"}})) == [1, 3]
        assert ids(coll.find({"s": {"$regex": r"^\p{L}$"}})) == [1, 2, 3]
        assert ids(coll.find({"s": {"$regex": r"^\P{L}$"}})) == [4, 5]
        assert ids(coll.find({"s": {"$regex": r"^\x{E9}$"}})) == [2]
        assert ids(coll.find({"s": {"$regex": r"\x{1F600}"}})) == [5]

    @pytest.mark.xfail(strict=True, reason="nestdb's linear-time regex engine refuses PCRE lookaround/backreferences (documented in core/src/docs/query.rs)")
    def test_pcre_lookaround_and_backreferences(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "s": "foobar"}, {"_id": 2, "s": "foobaz"}, {"_id": 3, "s": "abcabc"}])
        assert ids(coll.find({"s": {"$regex": "foo(?=bar)"}})) == [1]
        assert ids(coll.find({"s": {"$regex": "foo(?!bar)"}})) == [2]
        assert ids(coll.find({"s": {"$regex": r"^(abc)\1$"}})) == [3]

    def test_options_without_regex_raises(self, coll: Any) -> None:
        coll.insert_one({"s": "a"})
        raises_failure(coll, {"s": {"$options": "i"}})

    def test_regex_non_string_raises(self, coll: Any) -> None:
        coll.insert_one({"s": "a"})
        raises_failure(coll, {"s": {"$regex": 5}})


# =============================================================================================
# $elemMatch / $size / $all
# =============================================================================================


class TestArrays:
    def test_elem_match_scalars(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "results": [82, 85, 88]}, {"_id": 2, "results": [75, 88, 89]}])
        assert ids(coll.find({"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}})) == [1]

    SURVEY = [  # reference/operator/query/elemMatch
        {"_id": 1, "results": [{"product": "abc", "score": 10}, {"product": "xyz", "score": 5}]},
        {"_id": 2, "results": [{"product": "abc", "score": 8}, {"product": "xyz", "score": 7}]},
        {"_id": 3, "results": [{"product": "abc", "score": 7}, {"product": "xyz", "score": 8}]},
        {"_id": 4, "results": [{"product": "abc", "score": 7}, {"product": "def", "score": 8}]},
        {"_id": 5, "results": {"product": "xyz", "score": 7}},
    ]

    def test_elem_match_documents(self, coll: Any) -> None:
        coll.insert_many(self.SURVEY)
        assert ids(coll.find({"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}})) == [3]

    def test_elem_match_single_condition_only_arrays(self, coll: Any) -> None:
        coll.insert_many(self.SURVEY)
        assert ids(coll.find({"results": {"$elemMatch": {"product": "xyz"}}})) == [1, 2, 3]
        assert ids(coll.find({"results.product": "xyz"})) == [1, 2, 3, 5]

    def test_elem_match_ne_vs_dotted_ne(self, coll: Any) -> None:
        coll.insert_many(self.SURVEY)
        assert ids(coll.find({"results": {"$elemMatch": {"product": {"$ne": "xyz"}}}})) == [1, 2, 3, 4]
        assert ids(coll.find({"results.product": {"$ne": "xyz"}})) == [4]

    def test_array_of_documents_tutorial(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_INSTOCK)
        assert items(coll.find({"instock": {"warehouse": "A", "qty": 5}})) == ["journal"]
        assert items(coll.find({"instock": {"qty": 5, "warehouse": "A"}})) == []
        assert items(coll.find({"instock.0.qty": {"$lte": 20}})) == ["journal", "notebook", "postcard"]
        assert items(coll.find({"instock.qty": {"$lte": 20}})) == ["journal", "notebook", "paper", "planner", "postcard"]
        assert items(coll.find({"instock": {"$elemMatch": {"qty": 5, "warehouse": "A"}}})) == ["journal"]
        assert items(coll.find({"instock": {"$elemMatch": {"qty": {"$gt": 10, "$lte": 20}}}})) == ["journal", "paper", "postcard"]
        assert items(coll.find({"instock.qty": {"$gt": 10, "$lte": 20}})) == ["journal", "paper", "planner", "postcard"]
        assert items(coll.find({"instock.qty": 5, "instock.warehouse": "A"})) == ["journal", "planner"]

    def test_elem_match_range_on_array(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        assert items(coll.find({"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}})) == ["planner"]

    def test_nested_elem_match(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": [[1, 6], [2]]}, {"_id": 2, "a": [[1], [2]]}, {"_id": 3, "a": [7]}])
        assert ids(coll.find({"a": {"$elemMatch": {"$elemMatch": {"$gt": 5}}}})) == [1]

    def test_elem_match_nested_documents_and_arrays(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "orders": [{"lines": [{"sku": "a", "n": 1}, {"sku": "b", "n": 5}]}]},
                {"_id": 2, "orders": [{"lines": [{"sku": "a", "n": 5}]}, {"lines": [{"sku": "b", "n": 1}]}]},
            ]
        )
        q = {"orders": {"$elemMatch": {"lines": {"$elemMatch": {"sku": "b", "n": {"$gt": 2}}}}}}
        assert ids(coll.find(q)) == [1]
        assert ids(coll.find({"orders.lines": {"$elemMatch": {"sku": "a", "n": 5}}})) == [2]

    def test_elem_match_needs_object(self, coll: Any) -> None:
        coll.insert_one({"a": [1]})
        raises_failure(coll, {"a": {"$elemMatch": 1}})

    def test_size(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS + [{"item": "x", "tags": "red"}, {"item": "y", "tags": []}])
        assert items(coll.find({"tags": {"$size": 3}})) == ["paper"]
        assert items(coll.find({"tags": {"$size": 1}})) == ["postcard"]
        assert items(coll.find({"tags": {"$size": 0}})) == ["y"]

    def test_size_nested_path(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": {"b": [1, 2]}}, {"_id": 2, "a": [{"b": [1, 2]}, {"b": [1]}]}, {"_id": 3, "a": {"b": [1]}}])
        assert ids(coll.find({"a.b": {"$size": 2}})) == [1, 2]

    def test_size_rejects_non_number(self, coll: Any) -> None:
        coll.insert_one({"a": [1]})
        raises_failure(coll, {"a": {"$size": "1"}})
        raises_failure(coll, {"a": {"$size": {"$gt": 1}}})

    INVENTORY_ALL = [  # reference/operator/query/all
        {
            "_id": 1,
            "code": "xyz",
            "tags": ["school", "book", "bag", "headphone", "appliance"],
            "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 45, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}],
        },
        {
            "_id": 2,
            "code": "abc",
            "tags": ["appliance", "school", "book"],
            "qty": [{"size": "6", "num": 100, "color": "green"}, {"size": "6", "num": 50, "color": "blue"}, {"size": "8", "num": 100, "color": "brown"}],
        },
        {
            "_id": 3,
            "code": "efg",
            "tags": ["school", "book"],
            "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 100, "color": "blue"}, {"size": "L", "num": 100, "color": "green"}],
        },
        {"_id": 4, "code": "ijk", "tags": ["electronics", "school"], "qty": [{"size": "M", "num": 100, "color": "green"}]},
    ]

    def test_all_values(self, coll: Any) -> None:
        coll.insert_many(self.INVENTORY_ALL)
        assert ids(coll.find({"tags": {"$all": ["appliance", "school", "book"]}})) == [1, 2]
        assert ids(coll.find({"qty.num": {"$all": [50]}})) == [2]

    def test_all_with_elem_match(self, coll: Any) -> None:
        coll.insert_many(self.INVENTORY_ALL)
        q = {"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 50}}}, {"$elemMatch": {"num": 100, "color": "green"}}]}}
        assert ids(coll.find(q)) == [3, 4]

    def test_all_on_non_array_field(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "level": "advanced"}, {"_id": 2, "level": ["advanced", "x"]}, {"_id": 3, "level": "beginner"}])
        assert ids(coll.find({"level": {"$all": ["advanced"]}})) == [1, 2]

    def test_all_nested_array(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "f": [["A"], "B"]}, {"_id": 2, "f": ["A"]}, {"_id": 3, "f": ["B"]}])
        # $all: [["A"]] matches the nested array as an element, or the field equal to ["A"]
        assert ids(coll.find({"f": {"$all": [["A"]]}})) == [1, 2]

    def test_all_empty_matches_nothing(self, coll: Any) -> None:
        coll.insert_many(self.INVENTORY_ALL)
        assert ids(coll.find({"tags": {"$all": []}})) == []

    def test_all_needs_array(self, coll: Any) -> None:
        coll.insert_one({"a": [1]})
        raises_failure(coll, {"a": {"$all": 1}})


# =============================================================================================
# $mod
# =============================================================================================


class TestMod:
    DOCS = [{"_id": 1, "item": "abc123", "qty": 0}, {"_id": 2, "item": "xyz123", "qty": 5}, {"_id": 3, "item": "ijk123", "qty": 12}]

    def test_mod_selects(self, coll: Any) -> None:
        coll.insert_many(self.DOCS)
        assert ids(coll.find({"qty": {"$mod": [4, 0]}})) == [1, 3]

    def test_mod_float_arguments_truncate_toward_zero(self, coll: Any) -> None:
        coll.insert_many(self.DOCS)
        for divisor in (4.0, 4.5, 4.99):
            assert ids(coll.find({"qty": {"$mod": [divisor, 0]}})) == [1, 3], divisor

    def test_mod_negative_dividend(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "qty": -7}, {"_id": 2, "qty": -3}, {"_id": 3, "qty": 1}, {"_id": 4, "qty": 5}])
        # like JavaScript: -7 % 4 == -3, -3 % 4 == -3, 1 % 4 == 1, 5 % 4 == 1
        assert ids(coll.find({"qty": {"$mod": [4, -3]}})) == [1, 2]
        assert ids(coll.find({"qty": {"$mod": [4, 1]}})) == [3, 4]

    def test_mod_float_field_values(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "v": 8.7}, {"_id": 2, "v": 9.2}, {"_id": 3, "v": float("nan")}, {"_id": 4, "v": "8"}])
        assert ids(coll.find({"v": {"$mod": [4, 0]}})) == [1]

    @pytest.mark.parametrize(
        "arg",
        [[4], [], [4, 1, 2, 3], [0, 1], [float("nan"), 0], [float("inf"), 0], 4, "a"],
        ids=["one-element", "empty", "too-many", "zero-divisor", "nan", "inf", "not-array", "string"],
    )
    def test_mod_errors(self, coll: Any, arg: Any) -> None:
        coll.insert_many(self.DOCS)
        raises_failure(coll, {"qty": {"$mod": arg}})


# =============================================================================================
# $expr
# =============================================================================================


class TestExpr:
    def test_compare_two_fields(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "category": "food", "budget": 400, "spent": 450},
                {"_id": 2, "category": "drinks", "budget": 100, "spent": 150},
                {"_id": 3, "category": "clothes", "budget": 100, "spent": 50},
                {"_id": 4, "category": "misc", "budget": 500, "spent": 300},
                {"_id": 5, "category": "travel", "budget": 200, "spent": 650},
            ]
        )
        assert ids(coll.find({"$expr": {"$gt": ["$spent", "$budget"]}})) == [1, 2, 5]

    def test_cond(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "item": "binder", "qty": 100, "price": Decimal128("12")},
                {"_id": 2, "item": "notebook", "qty": 200, "price": Decimal128("8")},
                {"_id": 3, "item": "pencil", "qty": 50, "price": Decimal128("6")},
                {"_id": 4, "item": "eraser", "qty": 150, "price": Decimal128("3")},
                {"_id": 5, "item": "legal pad", "qty": 42, "price": Decimal128("10")},
            ]
        )
        discounted = {
            "$cond": {
                "if": {"$gte": ["$qty", 100]},
                "then": {"$multiply": ["$price", Decimal128("0.50")]},
                "else": {"$multiply": ["$price", Decimal128("0.75")]},
            }
        }
        # notebook 8 * 0.5 = 4, pencil 6 * 0.75 = 4.5, eraser 3 * 0.5 = 1.5
        assert ids(coll.find({"$expr": {"$lt": [discounted, 5]}})) == [2, 3, 4]

    def test_if_null_switch_arithmetic(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": 5, "b": None}, {"_id": 2, "a": 10}, {"_id": 3, "a": 1, "b": 20}])
        assert ids(coll.find({"$expr": {"$gt": [{"$ifNull": ["$b", "$a"]}, 7]}})) == [2, 3]
        switch = {"$switch": {"branches": [{"case": {"$lt": ["$a", 3]}, "then": "low"}, {"case": {"$lt": ["$a", 8]}, "then": "mid"}], "default": "high"}}
        assert ids(coll.find({"$expr": {"$eq": [switch, "mid"]}})) == [1]
        assert ids(coll.find({"$expr": {"$eq": [{"$mod": ["$a", 5]}, 0]}})) == [1, 2]
        assert ids(coll.find({"$expr": {"$gte": [{"$add": ["$a", {"$multiply": ["$a", 2]}]}, 15]}})) == [1, 2]
        assert ids(coll.find({"$expr": {"$lt": [{"$subtract": ["$a", {"$divide": ["$a", 2]}]}, 3]}})) == [1, 3]

    def test_expr_combined_with_query(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": 3, "b": 1, "t": "x"}, {"_id": 2, "a": 3, "b": 1, "t": "y"}, {"_id": 3, "a": 1, "b": 3, "t": "x"}])
        assert ids(coll.find({"t": "x", "$expr": {"$gt": ["$a", "$b"]}})) == [1]
        assert ids(coll.find({"$and": [{"$expr": {"$eq": ["$t", "x"]}}, {"a": {"$gt": 2}}]})) == [1]

    def test_expr_compares_across_types(self, coll: Any) -> None:
        # aggregation comparison uses the BSON order: a string is greater than any number,
        # a missing field is less than any number
        coll.insert_many([{"_id": 1, "v": "abc"}, {"_id": 2, "v": 3}, {"_id": 3}])
        assert ids(coll.find({"$expr": {"$gt": ["$v", 5]}})) == [1]
        assert ids(coll.find({"$expr": {"$lt": ["$v", 5]}})) == [2, 3]

    def test_expr_array_operators(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "arr": [1, 2, 3]}, {"_id": 2, "arr": [4]}, {"_id": 3, "arr": []}])
        assert ids(coll.find({"$expr": {"$in": [2, "$arr"]}})) == [1]
        assert ids(coll.find({"$expr": {"$gt": [{"$size": "$arr"}, 0]}})) == [1, 2]

    def test_expr_does_not_traverse_arrays_for_comparison(self, coll: Any) -> None:
        # in aggregation an array compares as an array (BSON order: array > number)
        coll.insert_many([{"_id": 1, "v": [1]}, {"_id": 2, "v": 10}])
        assert ids(coll.find({"$expr": {"$eq": ["$v", 1]}})) == []
        assert ids(coll.find({"$expr": {"$gt": ["$v", 5]}})) == [1, 2]

    def test_expr_invalid_operator_raises(self, coll: Any) -> None:
        coll.insert_one({"a": 1})
        raises_failure(coll, {"$expr": {"$notAnOperator": ["$a", 1]}})


# =============================================================================================
# paths: nested documents and arrays
# =============================================================================================


class TestPaths:
    def test_dotted_embedded(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        assert items(coll.find({"size.uom": "in"})) == ["notebook", "paper"]

    def test_embedded_document_partial_doc_does_not_match(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        assert items(coll.find({"size": {"uom": "in"}})) == []

    def test_array_tutorial_equality(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_ARRAYS)
        assert items(coll.find({"tags": ["red", "blank"]})) == ["notebook"]
        assert items(coll.find({"tags": {"$all": ["red", "blank"]}})) == ["journal", "notebook", "paper", "planner"]
        assert items(coll.find({"tags": "red"})) == ["journal", "notebook", "paper", "planner"]

    def test_deep_path_through_arrays(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "a": [{"b": [{"c": 1}, {"c": 2}]}, {"b": [{"c": 3}]}]},
                {"_id": 2, "a": {"b": {"c": 3}}},
                {"_id": 3, "a": [{"b": {"c": 4}}]},
            ]
        )
        assert ids(coll.find({"a.b.c": 3})) == [1, 2]
        assert ids(coll.find({"a.b.c": {"$gte": 2}})) == [1, 2, 3]
        assert ids(coll.find({"a.0.b.1.c": 2})) == [1]
        assert ids(coll.find({"a.b.0.c": 3})) == [1]

    def test_numeric_component_on_document_key(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": {"0": "x"}}, {"_id": 2, "a": ["x"]}, {"_id": 3, "a": ["y", "x"]}])
        assert ids(coll.find({"a.0": "x"})) == [1, 2]

    def test_numeric_component_index_or_field_name(self, coll: Any) -> None:
        # "a.0" is both the array index 0 and the field "0" of documents in the array
        coll.insert_many([{"_id": 1, "a": [{"0": 1}]}, {"_id": 2, "a": [{"0": 2}]}, {"_id": 3, "a": [1]}, {"_id": 4, "a": [9, 1]}])
        assert ids(coll.find({"a.0": 1})) == [1, 3]
        assert ids(coll.find({"a.0": {"$gt": 8}})) == [4]
        assert ids(coll.find({"a.0": {"$lt": 0}})) == []

    def test_items_index_qty(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "items": [{"qty": 5}, {"qty": 50}]},
                {"_id": 2, "items": [{"qty": 50}, {"qty": 5}]},
                {"_id": 3, "items": []},
            ]
        )
        assert ids(coll.find({"items.0.qty": {"$lt": 10}})) == [1]
        assert ids(coll.find({"items.1.qty": 5})) == [2]
        assert ids(coll.find({"items.qty": {"$lt": 10}})) == [1, 2]

    def test_unknown_operators_raise(self, coll: Any) -> None:
        coll.insert_one({"a": 1})
        raises_failure(coll, {"a": {"$foo": 1}})
        raises_failure(coll, {"$foo": [{"a": 1}]})

    def test_mixing_operators_and_fields_in_operator_object(self, coll: Any) -> None:
        # {a: {$gt: 1, b: 2}} mixes an operator with a field name: an error
        coll.insert_one({"a": {"b": 2}})
        raises_failure(coll, {"a": {"$gt": 1, "b": 2}})

    def test_comment_top_level_is_ignored(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}])
        assert ids(coll.find({"x": 1, "$comment": "find x"})) == [1]


# =============================================================================================
# projection
# =============================================================================================


def strip(doc: dict) -> dict:
    out = dict(doc)
    out.pop("_id", None)
    return out


class TestProjection:
    def test_inclusion_returns_id(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        docs = list(coll.find({"status": "A"}, {"item": 1, "status": 1}))
        assert len(docs) == 3
        for d in docs:
            assert set(d) == {"_id", "item", "status"}

    def test_inclusion_suppress_id(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        docs = list(coll.find({"status": "A"}, {"item": 1, "status": 1, "_id": 0}).sort("item", 1))
        assert docs == [{"item": "journal", "status": "A"}, {"item": "notebook", "status": "A"}, {"item": "postcard", "status": "A"}]

    def test_exclusion(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        doc = coll.find_one({"item": "journal"}, {"status": 0, "instock": 0})
        assert set(doc) == {"_id", "item", "size"}

    def test_only_id_excluded(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        doc = coll.find_one({"item": "journal"}, {"_id": 0})
        assert doc == strip(INVENTORY_PROJECTION[0])

    def test_embedded_inclusion_dotted_and_nested_form(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        doc = coll.find_one({"item": "notebook"}, {"item": 1, "status": 1, "size.uom": 1, "_id": 0})
        assert doc == {"item": "notebook", "status": "A", "size": {"uom": "in"}}
        doc = coll.find_one({"item": "notebook"}, {"item": 1, "status": 1, "size": {"uom": 1}, "_id": 0})
        assert doc == {"item": "notebook", "status": "A", "size": {"uom": "in"}}

    def test_embedded_exclusion(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        doc = coll.find_one({"item": "notebook"}, {"size.uom": 0, "_id": 0})
        assert doc == {"item": "notebook", "status": "A", "size": {"h": 8.5, "w": 11}, "instock": [{"warehouse": "C", "qty": 5}]}

    def test_inclusion_through_array_of_documents(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        doc = coll.find_one({"item": "postcard"}, {"item": 1, "status": 1, "instock.qty": 1, "_id": 0})
        assert doc == {"item": "postcard", "status": "A", "instock": [{"qty": 15}, {"qty": 35}]}

    def test_inclusion_through_mixed_array(self, coll: Any) -> None:
        # scalars are dropped, documents keep only the included field (possibly empty)
        coll.insert_one({"_id": 1, "a": [1, {"b": 2, "c": 3}, {"c": 4}]})
        assert coll.find_one({}, {"a.b": 1, "_id": 0}) == {"a": [{"b": 2}, {}]}

    def test_exclusion_through_mixed_array(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1, {"b": 2, "c": 3}, {"c": 4}]})
        assert coll.find_one({}, {"a.b": 0, "_id": 0}) == {"a": [1, {"c": 3}, {"c": 4}]}

    def test_missing_included_field_absent(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        assert coll.find_one({}, {"nosuch": 1}) == {"_id": 1}
        assert coll.find_one({}, {"nosuch": 1, "_id": 0}) == {}

    def test_truthy_values_and_list_form(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1, "b": 2, "c": 3})
        assert coll.find_one({}, {"a": True, "b": 5}) == {"_id": 1, "a": 1, "b": 2}
        assert coll.find_one({}, {"a": False}) == {"_id": 1, "b": 2, "c": 3}
        assert coll.find_one({}, ["a", "c"]) == {"_id": 1, "a": 1, "c": 3}

    def test_id_excluded_in_exclusion_projection(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1, "b": 2})
        assert coll.find_one({}, {"_id": 0, "a": 0}) == {"b": 2}

    def test_mixing_inclusion_and_exclusion_raises(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        raises_failure(coll, {}, {"item": 1, "status": 0})
        raises_failure(coll, {}, {"item": 0, "size.uom": 1})

    def test_path_collision_raises(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        raises_failure(coll, {}, {"size": 1, "size.uom": 1})

    def test_projection_with_aggregation_expressions(self, coll: Any) -> None:
        # tutorial/project-fields-from-query-results: "Project Fields with Aggregation Expressions"
        coll.insert_many(INVENTORY_PROJECTION)
        proj = {
            "_id": 0,
            "item": 1,
            "status": {
                "$switch": {
                    "branches": [
                        {"case": {"$eq": ["$status", "A"]}, "then": {"$concat": ["Status is ", "$status"]}},
                        {"case": {"$eq": ["$status", "D"]}, "then": {"$concat": ["Status is ", "$status"]}},
                    ],
                    "default": "No status found",
                }
            },
            "area": {"$concat": [{"$toString": {"$multiply": ["$size.h", "$size.w"]}}, " ", "$size.uom"]},
            "reportNumber": {"$literal": 1},
        }
        docs = list(coll.find({}, proj).sort("item", 1))
        assert docs[0] == {"item": "journal", "status": "Status is A", "area": "294 cm", "reportNumber": 1}
        assert docs[1] == {"item": "notebook", "status": "Status is A", "area": "93.5 in", "reportNumber": 1}

    # --- $slice -----------------------------------------------------------------------------

    SLICE_DOC = {"_id": 1, "a": [0, 1, 2, 3, 4, 5, -5, -4, -3, -2, -1], "b": 1, "c": 1}

    @pytest.mark.parametrize(
        "arg, expected",
        [
            (3, [0, 1, 2]),
            (-3, [-3, -2, -1]),
            ([2, 3], [2, 3, 4]),
            ([-5, 4], [-5, -4, -3, -2]),
            ([-5, 10], [-5, -4, -3, -2, -1]),
            (100, [0, 1, 2, 3, 4, 5, -5, -4, -3, -2, -1]),
            ([20, 2], []),
            ([-20, 2], [0, 1]),
        ],
    )
    def test_slice_forms(self, coll: Any, arg: Any, expected: List[int]) -> None:
        coll.insert_one(dict(self.SLICE_DOC))
        out = coll.find_one({}, {"a": {"$slice": arg}})
        assert out["a"] == expected
        # $slice alone keeps the other fields
        assert out["b"] == 1 and out["c"] == 1

    def test_slice_with_inclusion_and_exclusion(self, coll: Any) -> None:
        coll.insert_one(dict(self.SLICE_DOC))
        assert coll.find_one({}, {"a": {"$slice": 3}, "b": True}) == {"_id": 1, "a": [0, 1, 2], "b": 1}
        assert coll.find_one({}, {"a": {"$slice": 3}, "b": False}) == {"_id": 1, "a": [0, 1, 2], "c": 1}

    def test_slice_last_element_tutorial(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_PROJECTION)
        doc = coll.find_one({"item": "postcard"}, {"item": 1, "status": 1, "instock": {"$slice": -1}, "_id": 0})
        assert doc == {"item": "postcard", "status": "A", "instock": [{"warehouse": "C", "qty": 35}]}

    def test_slice_embedded_array(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "item": "socks", "qty": 100, "details": {"colors": ["blue", "red"], "sizes": ["S", "M", "L"]}})
        assert coll.find_one({}, {"qty": 1, "details.colors": {"$slice": 1}}) == {"_id": 1, "qty": 100, "details": {"colors": ["blue"]}}
        assert coll.find_one({}, {"details.colors": {"$slice": 1}}) == {
            "_id": 1,
            "item": "socks",
            "qty": 100,
            "details": {"colors": ["blue"], "sizes": ["S", "M", "L"]},
        }

    def test_slice_nested_arrays(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [[1, 1, 1], [2, 2, 2], [3, 3, 3]]})
        assert coll.find_one({}, {"a": {"$slice": 1}})["a"] == [[1, 1, 1]]
        assert coll.find_one({}, {"a": {"$slice": -1}})["a"] == [[3, 3, 3]]

    def test_slice_non_array_returned_as_is(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": "scalar", "b": 2})
        assert coll.find_one({}, {"a": {"$slice": 1}}) == {"_id": 1, "a": "scalar", "b": 2}

    def test_slice_limit_must_be_positive(self, coll: Any) -> None:
        coll.insert_one(dict(self.SLICE_DOC))
        raises_failure(coll, {}, {"a": {"$slice": [1, 0]}})
        raises_failure(coll, {}, {"a": {"$slice": [1, -1]}})

    # --- positional $ and $elemMatch ----------------------------------------------------------

    GRADES = [  # reference/operator/projection/positional
        {"_id": 1, "semester": 1, "grades": [70, 87, 90]},
        {"_id": 2, "semester": 1, "grades": [90, 88, 92]},
        {"_id": 3, "semester": 1, "grades": [85, 100, 90]},
        {"_id": 4, "semester": 2, "grades": [79, 85, 80]},
        {"_id": 5, "semester": 2, "grades": [88, 88, 92]},
        {"_id": 6, "semester": 2, "grades": [95, 90, 96]},
    ]

    def test_positional_scalars(self, coll: Any) -> None:
        coll.insert_many(self.GRADES)
        got = list(coll.find({"semester": 1, "grades": {"$gte": 85}}, {"grades.$": 1}).sort("_id", 1))
        assert got == [{"_id": 1, "grades": [87]}, {"_id": 2, "grades": [90]}, {"_id": 3, "grades": [85]}]

    STUDENTS = [
        {"_id": 7, "semester": 3, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 5}, {"grade": 90, "mean": 85, "std": 3}]},
        {"_id": 8, "semester": 3, "grades": [{"grade": 92, "mean": 88, "std": 8}, {"grade": 78, "mean": 90, "std": 5}, {"grade": 88, "mean": 85, "std": 3}]},
    ]

    def test_positional_documents(self, coll: Any) -> None:
        coll.insert_many(self.STUDENTS)
        got = list(coll.find({"grades.mean": {"$gt": 70}}, {"grades.$": 1}).sort("_id", 1))
        assert got == [{"_id": 7, "grades": [{"grade": 80, "mean": 75, "std": 8}]}, {"_id": 8, "grades": [{"grade": 92, "mean": 88, "std": 8}]}]

    def test_positional_with_elem_match_query(self, coll: Any) -> None:
        coll.insert_many(self.STUDENTS)
        got = list(coll.find({"grades": {"$elemMatch": {"mean": {"$gt": 70}, "grade": {"$gt": 90}}}}, {"grades.$": 1}))
        assert got == [{"_id": 8, "grades": [{"grade": 92, "mean": 88, "std": 8}]}]

    def test_positional_second_match(self, coll: Any) -> None:
        coll.insert_many(self.STUDENTS)
        got = coll.find_one({"_id": 7, "grades.grade": {"$gte": 85}}, {"grades.$": 1, "semester": 1})
        assert got == {"_id": 7, "semester": 3, "grades": [{"grade": 85, "mean": 90, "std": 5}]}

    def test_positional_errors(self, coll: Any) -> None:
        coll.insert_many(self.GRADES)
        # more than one positional operator
        raises_failure(coll, {"grades": 90}, {"grades.$": 1, "semester.$": 1})
        # positional in an exclusion projection
        raises_failure(coll, {"grades": 90}, {"grades.$": 0})

    SCHOOLS = [  # reference/operator/projection/elemMatch
        {"_id": 1, "zipcode": "63109", "students": [{"name": "john", "school": 102, "age": 10}, {"name": "jess", "school": 102, "age": 11}, {"name": "jeff", "school": 108, "age": 15}]},
        {"_id": 2, "zipcode": "63110", "students": [{"name": "ajax", "school": 100, "age": 7}, {"name": "achilles", "school": 100, "age": 8}]},
        {"_id": 3, "zipcode": "63109", "students": [{"name": "ajax", "school": 100, "age": 7}, {"name": "achilles", "school": 100, "age": 8}]},
        {"_id": 4, "zipcode": "63109", "students": [{"name": "barney", "school": 102, "age": 7}, {"name": "ruth", "school": 102, "age": 16}]},
    ]

    def test_elem_match_projection(self, coll: Any) -> None:
        coll.insert_many(self.SCHOOLS)
        got = list(coll.find({"zipcode": "63109"}, {"students": {"$elemMatch": {"school": 102}}}).sort("_id", 1))
        assert got == [
            {"_id": 1, "students": [{"name": "john", "school": 102, "age": 10}]},
            {"_id": 3},
            {"_id": 4, "students": [{"name": "barney", "school": 102, "age": 7}]},
        ]

    def test_elem_match_projection_multiple_fields(self, coll: Any) -> None:
        coll.insert_many(self.SCHOOLS)
        got = list(coll.find({"zipcode": "63109"}, {"students": {"$elemMatch": {"school": 102, "age": {"$gt": 10}}}}).sort("_id", 1))
        assert got == [
            {"_id": 1, "students": [{"name": "jess", "school": 102, "age": 11}]},
            {"_id": 3},
            {"_id": 4, "students": [{"name": "ruth", "school": 102, "age": 16}]},
        ]

    def test_elem_match_projection_with_other_fields(self, coll: Any) -> None:
        coll.insert_many(self.SCHOOLS)
        got = coll.find_one({"_id": 1}, {"zipcode": 1, "students": {"$elemMatch": {"age": {"$gt": 12}}}})
        assert got == {"_id": 1, "zipcode": "63109", "students": [{"name": "jeff", "school": 108, "age": 15}]}


# =============================================================================================
# sort
# =============================================================================================


class TestSort:
    def test_single_and_compound(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "status": "A", "qty": 25},
                {"_id": 2, "status": "D", "qty": 50},
                {"_id": 3, "status": "A", "qty": 75},
                {"_id": 4, "status": "D", "qty": 10},
                {"_id": 5, "status": "A", "qty": 45},
            ]
        )
        assert ordered_ids(coll.find().sort("qty", ASCENDING)) == [4, 1, 5, 2, 3]
        assert ordered_ids(coll.find().sort("qty", DESCENDING)) == [3, 2, 5, 1, 4]
        assert ordered_ids(coll.find().sort([("status", ASCENDING), ("qty", DESCENDING)])) == [3, 5, 1, 2, 4]
        assert ordered_ids(coll.find(sort=[("status", DESCENDING), ("qty", ASCENDING)])) == [4, 2, 1, 5, 3]

    def test_mixed_numeric_types(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "n": 3},
                {"_id": 2, "n": 1.5},
                {"_id": 3, "n": Int64(-2)},
                {"_id": 4, "n": Decimal128("2.25")},
                {"_id": 5, "n": -0.5},
            ]
        )
        assert ordered_ids(coll.find().sort("n", 1)) == [3, 5, 2, 4, 1]

    def test_bson_type_order(self, coll: Any) -> None:
        oid = ObjectId("000000000000000000000001")
        values = [
            MinKey(),
            None,
            1,
            "a",
            {"x": 1},
            b"\x01",
            oid,
            False,
            datetime.datetime(2020, 1, 1),
            Timestamp(1, 1),
            Regex("a"),
            MaxKey(),
        ]
        # insert in a scrambled order
        order = [5, 11, 0, 8, 3, 10, 1, 7, 2, 9, 4, 6]
        coll.insert_many([{"_id": i, "v": values[i]} for i in order])
        assert ordered_ids(coll.find().sort("v", 1)) == list(range(12))
        assert ordered_ids(coll.find().sort("v", -1)) == list(reversed(range(12)))

    def test_missing_sorts_with_null_first(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "v": 5}, {"_id": 2}, {"_id": 3, "v": "s"}, {"_id": 4, "v": None}])
        got = ordered_ids(coll.find().sort([("v", 1), ("_id", 1)]))
        assert got == [2, 4, 1, 3]
        got = ordered_ids(coll.find().sort([("v", -1), ("_id", 1)]))
        assert got == [3, 1, 2, 4]

    def test_array_sorts_by_min_ascending_and_max_descending(self, coll: Any) -> None:
        # cursor.sort: "Sort on array values" (shoes example)
        coll.insert_many([{"_id": "A", "sizes": [7, 11]}, {"_id": "B", "sizes": [8, 9, 10]}])
        assert ordered_ids(coll.find().sort("sizes", 1)) == ["A", "B"]
        assert ordered_ids(coll.find().sort("sizes", -1)) == ["A", "B"]

    def test_array_sort_against_scalars(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "v": [1, 10]}, {"_id": 2, "v": 5}, {"_id": 3, "v": [6, 2]}, {"_id": 4, "v": 7}])
        assert ordered_ids(coll.find().sort("v", 1)) == [1, 3, 2, 4]  # keys 1, 2, 5, 7
        assert ordered_ids(coll.find().sort("v", -1)) == [1, 4, 3, 2]  # keys 10, 7, 6, 5

    def test_empty_array_sorts_before_null(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "v": 1}, {"_id": 2, "v": None}, {"_id": 3, "v": []}, {"_id": 4}])
        got = ordered_ids(coll.find().sort([("v", 1), ("_id", 1)]))
        assert got == [3, 2, 4, 1]

    def test_sort_on_embedded_field_in_array(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_INSTOCK)
        # ascending uses the minimum instock.qty: journal 5, notebook 5, paper 15, planner 5, postcard 15
        got = [d["item"] for d in coll.find().sort([("instock.qty", 1), ("item", 1)])]
        assert got == ["journal", "notebook", "planner", "paper", "postcard"]
        # descending uses the maximum: paper 60, planner 40, postcard 35, journal 15, notebook 5
        got = [d["item"] for d in coll.find().sort([("instock.qty", -1), ("item", 1)])]
        assert got == ["paper", "planner", "postcard", "journal", "notebook"]

    def test_sort_strings_binary_and_booleans_dates(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "s": "b"}, {"_id": 2, "s": "B"}, {"_id": 3, "s": "a"}, {"_id": 4, "s": "A"}, {"_id": 5, "s": "ab"}])
        assert ordered_ids(coll.find().sort("s", 1)) == [4, 2, 3, 5, 1]

    def test_sort_embedded_documents(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "d": {"b": 0}}, {"_id": 2, "d": {"a": 2}}, {"_id": 3, "d": {"a": 1, "z": 0}}, {"_id": 4, "d": {"a": 1}}])
        # field by field: keys first, then values; a shorter document sorts first
        assert ordered_ids(coll.find().sort("d", 1)) == [4, 3, 2, 1]

    def test_sort_dotted_field(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_EMBEDDED)
        got = [d["item"] for d in coll.find().sort([("size.h", -1), ("item", 1)])]
        assert got == ["planner", "journal", "postcard", "notebook", "paper"]

    def test_invalid_sort_direction_raises(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
        with pytest.raises((OperationFailure, ValueError, TypeError)):
            list(coll.find().sort("a", 2))


# =============================================================================================
# skip / limit / counts / distinct / find_one / cursors
# =============================================================================================


@pytest.fixture
def ten(coll: Any) -> Any:
    coll.insert_many([{"_id": i, "n": i, "even": i % 2 == 0} for i in range(10)])
    return coll


class TestSkipLimit:
    def test_skip_limit(self, ten: Any) -> None:
        assert ordered_ids(ten.find().sort("n", 1).skip(3).limit(4)) == [3, 4, 5, 6]
        assert ordered_ids(ten.find(skip=8, sort=[("n", 1)])) == [8, 9]
        assert ordered_ids(ten.find().sort("n", 1).skip(20)) == []

    def test_sort_applies_before_skip_and_limit_regardless_of_call_order(self, ten: Any) -> None:
        assert ordered_ids(ten.find().limit(3).skip(2).sort("n", -1)) == [7, 6, 5]

    def test_limit_zero_is_no_limit(self, ten: Any) -> None:
        assert len(list(ten.find().limit(0))) == 10

    def test_negative_limit_returns_abs_limit(self, ten: Any) -> None:
        assert ordered_ids(ten.find().sort("n", 1).limit(-3)) == [0, 1, 2]

    def test_limit_larger_than_result(self, ten: Any) -> None:
        assert len(list(ten.find({"even": True}).limit(100))) == 5

    def test_bad_skip_limit_arguments(self, ten: Any) -> None:
        with pytest.raises(ValueError):
            ten.find().skip(-1)
        with pytest.raises(TypeError):
            ten.find().limit("2")
        with pytest.raises(TypeError):
            ten.find().skip(1.5)


class TestCountsAndDistinct:
    def test_count_documents(self, ten: Any) -> None:
        assert ten.count_documents({}) == 10
        assert ten.count_documents({"n": {"$gte": 7}}) == 3
        assert ten.count_documents({"nosuch": 1}) == 0

    def test_count_documents_skip_limit(self, ten: Any) -> None:
        assert ten.count_documents({}, skip=2) == 8
        assert ten.count_documents({}, limit=3) == 3
        assert ten.count_documents({}, skip=8, limit=5) == 2
        assert ten.count_documents({"even": True}, skip=1, limit=2) == 2
        assert ten.count_documents({}, skip=20) == 0

    def test_estimated_document_count(self, ten: Any, client: MongoClient) -> None:
        assert ten.estimated_document_count() == 10
        assert client.conf.empty_coll.estimated_document_count() == 0

    DISTINCT = [  # reference/method/db.collection.distinct
        {"_id": 1, "dept": "A", "item": {"sku": "111", "color": "red"}, "sizes": ["S", "M"]},
        {"_id": 2, "dept": "A", "item": {"sku": "111", "color": "blue"}, "sizes": ["M", "L"]},
        {"_id": 3, "dept": "B", "item": {"sku": "222", "color": "blue"}, "sizes": "S"},
        {"_id": 4, "dept": "A", "item": {"sku": "333", "color": "black"}, "sizes": ["S"]},
    ]

    def test_distinct(self, coll: Any) -> None:
        coll.insert_many(self.DISTINCT)
        assert sorted(coll.distinct("dept")) == ["A", "B"]
        assert sorted(coll.distinct("item.sku")) == ["111", "222", "333"]
        assert sorted(coll.distinct("sizes")) == ["L", "M", "S"]
        assert sorted(coll.distinct("item.sku", {"dept": "A"})) == ["111", "333"]
        assert coll.distinct("nosuch") == []

    def test_distinct_nested_arrays_not_flattened_twice(self, coll: Any) -> None:
        # distinct: "[ 1, [1], 1 ]" -> 1 and [1] are separate values
        coll.insert_many([{"_id": 1, "a": [1, [1], 1]}, {"_id": 2, "a": 2}])
        got = coll.distinct("a")
        assert len(got) == 3
        assert 1 in got and [1] in got and 2 in got

    def test_distinct_through_array_of_documents(self, coll: Any) -> None:
        coll.insert_many(INVENTORY_INSTOCK)
        assert sorted(coll.distinct("instock.warehouse")) == ["A", "B", "C"]
        assert sorted(coll.distinct("instock.qty", {"item": {"$in": ["journal", "paper"]}})) == [5, 15, 60]

    def test_cursor_distinct(self, coll: Any) -> None:
        coll.insert_many(self.DISTINCT)
        assert sorted(coll.find({"dept": "A"}).distinct("item.color")) == ["black", "blue", "red"]


class TestFindOneAndCursor:
    def test_find_one(self, ten: Any) -> None:
        assert ten.find_one({"n": 4}) == {"_id": 4, "n": 4, "even": True}
        assert ten.find_one({"n": 42}) is None
        assert ten.find_one({"even": False}, sort=[("n", -1)])["n"] == 9
        assert ten.find_one({"even": True}, {"_id": 0, "n": 1}, sort=[("n", -1)], skip=1) == {"n": 6}

    def test_find_one_by_id_value(self, coll: Any) -> None:
        oid = coll.insert_one({"x": 1}).inserted_id
        assert coll.find_one(oid)["x"] == 1
        coll.insert_one({"_id": 7, "x": 2})
        assert coll.find_one(7)["x"] == 2

    def test_iteration_and_batches(self, coll: Any) -> None:
        coll.insert_many([{"_id": i} for i in range(25)])
        cur = coll.find().sort("_id", 1).batch_size(4)
        assert [d["_id"] for d in cur] == list(range(25))
        assert len(list(coll.find(batch_size=3))) == 25

    def test_to_list(self, ten: Any) -> None:
        assert [d["_id"] for d in ten.find().sort("n", 1).to_list()] == list(range(10))
        assert [d["_id"] for d in ten.find().sort("n", 1).to_list(3)] == [0, 1, 2]

    def test_next_and_stop_iteration(self, ten: Any) -> None:
        cur = ten.find({"n": {"$lt": 2}}).sort("n", 1)
        assert next(cur)["n"] == 0
        assert cur.next()["n"] == 1
        with pytest.raises(StopIteration):
            next(cur)

    def test_rewind_and_clone(self, ten: Any) -> None:
        cur = ten.find({"even": True}).sort("n", 1)
        first = ordered_ids(cur)
        assert first == [0, 2, 4, 6, 8]
        cur.rewind()
        assert ordered_ids(cur) == first
        assert ordered_ids(cur.clone()) == first

    def test_getitem(self, ten: Any) -> None:
        assert ten.find().sort("n", 1)[3]["n"] == 3
        assert ordered_ids(ten.find().sort("n", 1)[2:5]) == [2, 3, 4]
        with pytest.raises(IndexError):
            ten.find().sort("n", 1)[50]

    def test_modifying_started_cursor_raises(self, ten: Any) -> None:
        cur = ten.find()
        next(cur)
        with pytest.raises(InvalidOperation):
            cur.sort("n", 1)
        with pytest.raises(InvalidOperation):
            cur.limit(2)

    def test_min_max_index_bounds(self, ten: Any) -> None:
        # cursor.min(): inclusive lower bound, cursor.max(): exclusive upper bound of the
        # hinted index
        ten.create_index("n")
        assert ordered_ids(ten.find().min([("n", 3)]).max([("n", 6)]).hint([("n", 1)])) == [3, 4, 5]
        assert ordered_ids(ten.find(min={"n": 7}, hint=[("n", 1)])) == [7, 8, 9]
        assert ordered_ids(ten.find(max={"n": 2}, hint=[("n", 1)])) == [0, 1]

    def test_min_max_require_hint(self, ten: Any) -> None:
        # "you must use the hint() method to specify the index you want to use, except when
        # the find() query is an equality condition on the _id field"
        ten.create_index("n")
        with pytest.raises(OperationFailure):
            list(ten.find({"n": {"$gte": 0}}).min([("n", 3)]))
        with pytest.raises(OperationFailure):
            list(ten.find({"n": {"$gte": 0}}).max([("n", 3)]))

    def test_return_key(self, ten: Any) -> None:
        # cursor.returnKey(): index keys instead of documents; empty documents when the
        # query does not use an index
        ten.create_index("n")
        assert list(ten.find({"n": 2}, return_key=True).hint([("n", 1)])) == [{"n": 2}]
        assert list(ten.find({"even": False, "n": 3}, return_key=True).hint([("$natural", 1)])) == [{}]

    def test_show_record_id(self, ten: Any) -> None:
        # cursor.showRecordId(): adds a $recordId field to each document
        docs = list(ten.find({"n": {"$lt": 2}}, show_record_id=True))
        assert len(docs) == 2
        assert all("$recordId" in d for d in docs)

    def test_filter_must_be_mapping(self, ten: Any) -> None:
        with pytest.raises(TypeError):
            ten.find("not a filter")

    def test_find_returns_independent_documents(self, ten: Any) -> None:
        doc = ten.find_one({"_id": 1})
        doc["n"] = 100
        assert ten.find_one({"_id": 1})["n"] == 1

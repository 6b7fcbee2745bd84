"""Conformance tests for the MongoDB update language and the write methods, through
``nestdb.MongoClient`` (a drop-in for pymongo's MongoClient).

Expectations come from the MongoDB manual (update operator reference pages, "Updates with
Aggregation Pipeline", the upsert sections of updateOne/updateMany/replaceOne, findAndModify,
bulkWrite, insertMany) and pymongo's API docs for method signatures and result objects.
Each section names the manual page its examples and expected results are taken from."""

from __future__ import annotations

import datetime
from typing import Any, Dict, List

import pytest

import nestdb
from nestdb import (
    Decimal128,
    DeleteMany,
    DeleteOne,
    InsertOne,
    Int64,
    MongoClient,
    ObjectId,
    ReplaceOne,
    ReturnDocument,
    Timestamp,
    UpdateMany,
    UpdateOne,
)
from nestdb.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError

pytestmark = pytest.mark.skipif(
    not hasattr(nestdb._nestdb.Database, "_doc_command"), reason="the native layer has no document commands yet"
)


@pytest.fixture
def coll(client: MongoClient) -> Any:
    return client.conf.upd


def doc(coll: Any, _id: Any) -> Dict[str, Any]:
    found = coll.find_one({"_id": _id})
    assert found is not None, f"no document with _id {_id!r}"
    return found


def all_docs(coll: Any) -> List[Dict[str, Any]]:
    return list(coll.find({}).sort("_id", 1))


def bson_type(coll: Any, _id: Any, field: str) -> str:
    """The BSON type alias of ``field`` in document ``_id``, found with ``$type`` queries."""
    for alias in ("int", "long", "double", "decimal", "date", "timestamp", "string", "null", "object", "array"):
        if coll.count_documents({"_id": _id, field: {"$type": alias}}):
            return alias
    return "?"


def write_error(excinfo: Any) -> Dict[str, Any]:
    err = excinfo.value
    return {"code": err.code, "errmsg": (err.details or {}).get("errmsg", str(err))}


# ---------------------------------------------------------------------------------------------
# $set  (https://www.mongodb.com/docs/manual/reference/operator/update/set/)
# ---------------------------------------------------------------------------------------------

PRODUCT = {
    "_id": 100,
    "quantity": 250,
    "instock": True,
    "reorder": False,
    "details": {"model": "14QQ", "make": "Clothes Corp"},
    "tags": ["apparel", "clothing"],
    "ratings": [{"by": "Customer007", "rating": 4}],
}


class TestSet:
    def test_set_top_level_fields(self, coll: Any) -> None:
        coll.insert_one(dict(PRODUCT))
        res = coll.update_one(
            {"_id": 100},
            {"$set": {"quantity": 500, "details": {"model": "2600", "make": "Fashionaires"}, "tags": ["coats", "outerwear", "clothing"]}},
        )
        assert (res.matched_count, res.modified_count) == (1, 1)
        d = doc(coll, 100)
        assert d["quantity"] == 500
        assert d["details"] == {"model": "2600", "make": "Fashionaires"}
        assert d["tags"] == ["coats", "outerwear", "clothing"]
        # existing fields keep their position
        assert list(d) == list(PRODUCT)

    def test_set_embedded_field_and_array_elements(self, coll: Any) -> None:
        coll.insert_one(dict(PRODUCT))
        coll.update_one({"_id": 100}, {"$set": {"details.make": "Kustom Kidz"}})
        assert doc(coll, 100)["details"] == {"model": "14QQ", "make": "Kustom Kidz"}
        coll.update_one({"_id": 100}, {"$set": {"tags.1": "rain gear", "ratings.0.rating": 2}})
        d = doc(coll, 100)
        assert d["tags"] == ["apparel", "rain gear"]
        assert d["ratings"] == [{"by": "Customer007", "rating": 2}]
        coll.insert_one({"_id": 1, "m": [[1, 2], [3]]})
        coll.update_one({"_id": 1}, {"$set": {"m.0.1": 5}})
        assert doc(coll, 1)["m"] == [[1, 5], [3]]

    def test_set_creates_embedded_documents_for_dotted_path(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        coll.update_one({"_id": 1}, {"$set": {"a.b.c": 5}})
        assert doc(coll, 1) == {"_id": 1, "a": {"b": {"c": 5}}}
        # a numeric path component on a missing field creates a document, not an array
        coll.update_one({"_id": 1}, {"$set": {"x.0": "a"}})
        assert doc(coll, 1)["x"] == {"0": "a"}

    def test_set_array_index_beyond_length_pads_with_null(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "arr": [1, 2], "docs": [{"b": 1}, {"b": 2}]})
        coll.update_one({"_id": 1}, {"$set": {"arr.5": 6, "docs.4.b": 5}})
        d = doc(coll, 1)
        assert d["arr"] == [1, 2, None, None, None, 6]
        assert d["docs"] == [{"b": 1}, {"b": 2}, None, None, {"b": 5}]

    def test_set_through_scalar_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 5})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"a.b": 1}})
        assert ei.value.code == 28  # PathNotViable
        assert "Cannot create field 'b' in element {a: 5}" in write_error(ei)["errmsg"]
        assert doc(coll, 1) == {"_id": 1, "a": 5}
        # through null, and through an array of documents without an index
        coll.insert_many([{"_id": 2, "a": None}, {"_id": 3, "a": [{"b": 0}]}])
        for _id in (2, 3):
            with pytest.raises(WriteError) as ei:
                coll.update_one({"_id": _id}, {"$set": {"a.b": 1}})
            assert ei.value.code == 28

    def test_new_fields_are_added_in_lexicographic_order(self, coll: Any) -> None:
        # "update operators process document fields with string-based names in lexicographic order"
        coll.insert_one({"_id": 1, "m": 0})
        coll.update_one({"_id": 1}, {"$set": {"z": 1, "b": 2, "a": 3}})
        assert list(doc(coll, 1)) == ["_id", "m", "a", "b", "z"]
        # ... across operators too
        coll.insert_one({"_id": 2})
        coll.update_one({"_id": 2}, {"$set": {"y": 1}, "$push": {"c": 1}, "$inc": {"k": 1}, "$currentDate": {"e": True}})
        assert list(doc(coll, 2)) == ["_id", "c", "e", "k", "y"]
        # "Fields with numeric names are processed in numeric order."
        coll.insert_one({"_id": 3, "a": {}})
        coll.update_one({"_id": 3}, {"$set": {"a.10": "ten", "a.9": "nine", "a.100": "hundred"}})
        assert list(doc(coll, 3)["a"]) == ["9", "10", "100"]

    def test_empty_field_name_in_path_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"a..b": 1}})
        assert ei.value.code == 56  # EmptyFieldName

    def test_empty_operand_and_same_value_are_noops(self, coll: Any) -> None:
        # "mongod no longer raises an error when you use an update operator like $set with an
        # empty operand expression ( { } )"
        coll.insert_one({"_id": 1, "a": 1})
        res = coll.update_one({"_id": 1}, {"$set": {}})
        assert (res.matched_count, res.modified_count) == (1, 0)
        assert doc(coll, 1) == {"_id": 1, "a": 1}
        coll.insert_one({"_id": 2, "a": 1, "b": {"c": [1, 2]}})
        res = coll.update_one({"_id": 2}, {"$set": {"a": 1, "b": {"c": [1, 2]}}})
        assert (res.matched_count, res.modified_count) == (1, 0)

    def test_conflicting_paths_between_operators(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"a": 5}, "$inc": {"a": 1}})
        assert ei.value.code == 40  # ConflictingUpdateOperators
        assert write_error(ei)["errmsg"] == "Updating the path 'a' would create a conflict at 'a'"

    def test_conflicting_parent_and_child_paths(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": {"b": 1}})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"a": {"c": 1}, "a.b": 2}})
        assert ei.value.code == 40
        assert "would create a conflict at 'a'" in write_error(ei)["errmsg"]
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"a.b": 2}, "$unset": {"a": ""}})
        assert ei.value.code == 40
        assert doc(coll, 1) == {"_id": 1, "a": {"b": 1}}

    def test_set_id_is_immutable(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"_id": 2}})
        assert ei.value.code == 66  # ImmutableField
        assert "_id" in write_error(ei)["errmsg"]
        assert coll.count_documents({"_id": 1}) == 1
        for update in ({"$unset": {"_id": ""}}, {"$inc": {"_id": 1}}, {"$rename": {"_id": "x"}}):
            with pytest.raises(WriteError) as ei:
                coll.update_one({"_id": 1}, update)
            assert ei.value.code == 66, update
        coll.insert_one({"_id": {"a": 1}})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": {"a": 1}}, {"$set": {"_id.a": 2}})
        assert ei.value.code == 66
        assert doc(coll, 1) == {"_id": 1, "a": 1}
        # setting _id to its current value is allowed
        res = coll.update_one({"_id": 1}, {"$set": {"_id": 1, "a": 2}})
        assert res.modified_count == 1
        assert doc(coll, 1) == {"_id": 1, "a": 2}

    def test_unknown_update_operator(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$foo": {"a": 1}})
        assert ei.value.code == 9  # FailedToParse
        assert "Unknown modifier: $foo" in write_error(ei)["errmsg"]


# ---------------------------------------------------------------------------------------------
# $unset  (https://www.mongodb.com/docs/manual/reference/operator/update/unset/)
# ---------------------------------------------------------------------------------------------


class TestUnset:
    def test_unset_fields(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "item": "chisel", "sku": "C001", "quantity": 4, "instock": True},
                {"_id": 2, "item": "hammer", "sku": "unknown", "quantity": 3, "instock": True},
            ]
        )
        res = coll.update_one({"sku": "unknown"}, {"$unset": {"quantity": "", "instock": ""}})
        assert res.modified_count == 1
        assert doc(coll, 2) == {"_id": 2, "item": "hammer", "sku": "unknown"}

    def test_unset_embedded_field_and_array_element(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": {"b": 1, "c": 2}})
        coll.update_one({"_id": 1}, {"$unset": {"a.b": 1}})
        assert doc(coll, 1) == {"_id": 1, "a": {"c": 2}}
        # "$unset ... does not remove the element but sets it to null"
        coll.insert_one({"_id": 2, "arr": ["a", "b", "c"]})
        coll.update_one({"_id": 2}, {"$unset": {"arr.1": ""}})
        assert doc(coll, 2)["arr"] == ["a", None, "c"]

    def test_unset_missing_field_is_noop(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        res = coll.update_one({"_id": 1}, {"$unset": {"nope": "", "a.b": ""}})
        assert (res.matched_count, res.modified_count) == (1, 0)
        assert doc(coll, 1) == {"_id": 1, "a": 1}


# ---------------------------------------------------------------------------------------------
# $inc  (https://www.mongodb.com/docs/manual/reference/operator/update/inc/)
# ---------------------------------------------------------------------------------------------


class TestInc:
    def test_manual_example(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "sku": "abc123", "quantity": 10, "metrics": {"orders": 2, "ratings": 3.5}})
        coll.update_one({"sku": "abc123"}, {"$inc": {"quantity": -2, "metrics.orders": 1}})
        assert doc(coll, 1) == {"_id": 1, "sku": "abc123", "quantity": 8, "metrics": {"orders": 3, "ratings": 3.5}}

    def test_missing_field_is_created_with_the_amount(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        coll.update_one({"_id": 1}, {"$inc": {"n": 5, "x.y": -1.5}})
        assert doc(coll, 1) == {"_id": 1, "n": 5, "x": {"y": -1.5}}

    def test_null_field_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "n": None})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        assert ei.value.code == 14  # TypeMismatch
        # server message: "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the
        # field 'n' of non-numeric type null"
        assert "Cannot apply $inc to a value of non-numeric type" in write_error(ei)["errmsg"]
        assert "non-numeric type null" in write_error(ei)["errmsg"]

    def test_string_field_and_string_argument_are_errors(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "n": "5"})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        assert ei.value.code == 14
        assert "non-numeric type string" in write_error(ei)["errmsg"]
        assert doc(coll, 1)["n"] == "5"
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$inc": {"m": "x"}})
        assert ei.value.code == 14
        assert "Cannot increment with non-numeric argument" in write_error(ei)["errmsg"]

    def test_int_plus_double_is_double(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "n": 1})
        coll.update_one({"_id": 1}, {"$inc": {"n": 0.5}})
        assert doc(coll, 1)["n"] == 1.5
        assert bson_type(coll, 1, "n") == "double"

    def test_int32_overflow_promotes_to_long(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "n": 2147483647})
        assert bson_type(coll, 1, "n") == "int"
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        assert doc(coll, 1)["n"] == 2147483648
        assert isinstance(doc(coll, 1)["n"], Int64)  # pymongo decodes BSON int64 as Int64
        assert bson_type(coll, 1, "n") == "long"
        coll.insert_one({"_id": 2, "n": -2147483648})
        coll.update_one({"_id": 2}, {"$inc": {"n": -1}})
        assert doc(coll, 2)["n"] == -2147483649
        assert bson_type(coll, 2, "n") == "long"

    def test_int64_overflow_is_an_error(self, coll: Any) -> None:
        # $mul page: "Integer operations of any type that exceed the maximum value for a 64-bit
        # integer produce an error." ($inc follows the same arithmetic rules.)
        coll.insert_one({"_id": 1, "n": Int64(9223372036854775807)})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        assert doc(coll, 1)["n"] == 9223372036854775807

    def test_inc_by_zero_is_not_a_modification(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "n": 3})
        res = coll.update_one({"_id": 1}, {"$inc": {"n": 0}})
        assert (res.matched_count, res.modified_count) == (1, 0)


# ---------------------------------------------------------------------------------------------
# $mul  (https://www.mongodb.com/docs/manual/reference/operator/update/mul/)
# ---------------------------------------------------------------------------------------------


class TestMul:
    def test_multiply_fields(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "item": "ABC", "price": Decimal128("10.99"), "qty": 25})
        coll.update_one({"_id": 1}, {"$mul": {"price": Decimal128("1.25"), "qty": 2}})
        assert doc(coll, 1) == {"_id": 1, "item": "ABC", "price": Decimal128("13.7375"), "qty": 50}
        assert bson_type(coll, 1, "qty") == "int"
        coll.insert_one({"_id": 2, "n": 2})
        coll.update_one({"_id": 2}, {"$mul": {"n": 1.5}})
        assert doc(coll, 2)["n"] == 3.0
        assert bson_type(coll, 2, "n") == "double"

    def test_missing_field_is_zero_of_multiplier_type(self, coll: Any) -> None:
        coll.insert_many([{"_id": 2, "item": "Unknown"}, {"_id": 3, "item": "x"}])
        coll.update_one({"_id": 2}, {"$mul": {"price": Int64(100)}})
        assert doc(coll, 2) == {"_id": 2, "item": "Unknown", "price": 0}
        assert bson_type(coll, 2, "price") == "long"
        coll.update_one({"_id": 3}, {"$mul": {"price": 2.5}})
        assert doc(coll, 3)["price"] == 0.0
        assert bson_type(coll, 3, "price") == "double"

    def test_mixed_types_and_int32_overflow(self, coll: Any) -> None:
        coll.insert_one({"_id": 3, "item": "XYZ", "price": Int64(10)})
        coll.update_one({"_id": 3}, {"$mul": {"price": 5}})
        assert doc(coll, 3)["price"] == 50
        assert bson_type(coll, 3, "price") == "long"
        # "If the product of two 32-bit integers exceeds the maximum value for a 32-bit
        # integer, the result is a 64-bit integer."
        coll.insert_one({"_id": 1, "n": 100000})
        coll.update_one({"_id": 1}, {"$mul": {"n": 100000}})
        assert doc(coll, 1)["n"] == 10000000000
        assert bson_type(coll, 1, "n") == "long"

    def test_long_overflow_is_an_error(self, coll: Any) -> None:
        # "Integer operations of any type that exceed the maximum value for a 64-bit integer
        # produce an error."
        coll.insert_one({"_id": 1, "n": Int64(2**62)})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$mul": {"n": 4}})
        assert doc(coll, 1)["n"] == 2**62

    def test_non_numeric_field_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "n": "abc"})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$mul": {"n": 2}})
        assert ei.value.code == 14


# ---------------------------------------------------------------------------------------------
# $min / $max  (https://www.mongodb.com/docs/manual/reference/operator/update/min/ , .../max/)
# ---------------------------------------------------------------------------------------------


class TestMinMax:
    def test_min_and_max_numbers(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "highScore": 800, "lowScore": 200})
        res = coll.update_one({"_id": 1}, {"$min": {"lowScore": 150}})
        assert res.modified_count == 1
        assert doc(coll, 1)["lowScore"] == 150
        res = coll.update_one({"_id": 1}, {"$min": {"lowScore": 250}})
        assert (res.matched_count, res.modified_count) == (1, 0)
        assert doc(coll, 1)["lowScore"] == 150
        coll.update_one({"_id": 1}, {"$max": {"highScore": 950}})
        assert doc(coll, 1)["highScore"] == 950
        res = coll.update_one({"_id": 1}, {"$max": {"highScore": 870}})
        assert res.modified_count == 0
        assert doc(coll, 1)["highScore"] == 950

    def test_min_max_dates(self, coll: Any) -> None:
        coll.insert_one(
            {
                "_id": 1,
                "desc": "decorative arts",
                "dateEntered": datetime.datetime(2013, 10, 1, 5, 0),
                "dateExpired": datetime.datetime(2013, 10, 1, 16, 38, 16),
            }
        )
        coll.update_one(
            {"_id": 1},
            {"$min": {"dateEntered": datetime.datetime(2013, 9, 25)}, "$max": {"dateExpired": datetime.datetime(2014, 1, 1)}},
        )
        d = doc(coll, 1)
        assert d["dateEntered"] == datetime.datetime(2013, 9, 25)
        assert d["dateExpired"] == datetime.datetime(2014, 1, 1)

    def test_missing_field_is_set(self, coll: Any) -> None:
        # "If the field does not exist, the $min operator sets the field to the specified value."
        coll.insert_one({"_id": 1})
        coll.update_one({"_id": 1}, {"$min": {"lo": 3}, "$max": {"hi": 9}})
        assert doc(coll, 1) == {"_id": 1, "hi": 9, "lo": 3}

    def test_comparison_across_types_uses_bson_order(self, coll: Any) -> None:
        # "For comparisons between values of different types, the BSON comparison order is used."
        # null < numbers < strings
        coll.insert_one({"_id": 1, "a": None, "b": "text", "c": 5})
        coll.update_one({"_id": 1}, {"$max": {"a": 1}, "$min": {"b": 100}})
        d = doc(coll, 1)
        assert d["a"] == 1
        assert d["b"] == 100
        res = coll.update_one({"_id": 1}, {"$min": {"c": "zzz"}})
        assert res.modified_count == 0


# ---------------------------------------------------------------------------------------------
# $rename  (https://www.mongodb.com/docs/manual/reference/operator/update/rename/)
# ---------------------------------------------------------------------------------------------


class TestRename:
    def students(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "alias": ["The American Cincinnatus", "The American Fabius"], "mobile": "555-555-5555", "nmae": {"first": "george", "last": "washington"}},
                {"_id": 2, "alias": ["My dearest friend"], "mobile": "222-222-2222", "nmae": {"first": "abigail", "last": "adams"}},
                {"_id": 3, "alias": ["Amazing grace"], "mobile": "111-111-1111", "nmae": {"first": "grace", "last": "hopper"}},
            ]
        )

    def test_manual_examples(self, coll: Any) -> None:
        self.students(coll)
        res = coll.update_many({}, {"$rename": {"nmae": "name"}})
        assert (res.matched_count, res.modified_count) == (3, 3)
        assert doc(coll, 2) == {"_id": 2, "alias": ["My dearest friend"], "mobile": "222-222-2222", "name": {"first": "abigail", "last": "adams"}}
        # rename a field in an embedded document
        coll.update_one({"_id": 1}, {"$rename": {"name.first": "name.fname"}})
        assert doc(coll, 1)["name"] == {"last": "washington", "fname": "george"}
        # renaming a field that does not exist does nothing
        res = coll.update_one({"_id": 1}, {"$rename": {"wife": "spouse"}})
        assert (res.matched_count, res.modified_count) == (1, 0)
        assert "spouse" not in doc(coll, 1)

    def test_rename_moves_field_to_end(self, coll: Any) -> None:
        # "$rename ... performs an $unset of both the old name and the new name, and then
        # performs a $set operation with the new name ... the renamed field may move"
        coll.insert_one({"_id": 1, "a": 1, "b": 2, "c": 3})
        coll.update_one({"_id": 1}, {"$rename": {"a": "z"}})
        assert list(doc(coll, 1).items()) == [("_id", 1), ("b", 2), ("c", 3), ("z", 1)]

    def test_rename_overwrites_existing_target(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1, "b": 2})
        coll.update_one({"_id": 1}, {"$rename": {"a": "b"}})
        assert doc(coll, 1) == {"_id": 1, "b": 1}

    def test_rename_into_dotted_path_creates_document(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "name": {"first": "grace", "last": "hopper"}, "mobile": "111"})
        coll.update_one({"_id": 1}, {"$rename": {"name.last": "contact.lname", "mobile": "contact.phone"}})
        assert doc(coll, 1) == {"_id": 1, "name": {"first": "grace"}, "contact": {"lname": "hopper", "phone": "111"}}

    def test_rename_source_equal_target_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$rename": {"a": "a"}})
        assert ei.value.code == 2  # BadValue

    def test_rename_array_element_is_an_error(self, coll: Any) -> None:
        # "$rename does not work if these fields are in array elements."
        coll.insert_one({"_id": 1, "arr": [{"a": 1}, {"a": 2}]})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$rename": {"arr.0.a": "arr.0.b"}})
        assert doc(coll, 1)["arr"] == [{"a": 1}, {"a": 2}]

    def test_rename_conflicts_with_set_of_target(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$rename": {"a": "b"}, "$set": {"b": 2}})
        assert ei.value.code == 40


# ---------------------------------------------------------------------------------------------
# $currentDate  (https://www.mongodb.com/docs/manual/reference/operator/update/currentDate/)
# ---------------------------------------------------------------------------------------------


class TestCurrentDate:
    def test_current_date_and_timestamp(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "status": "a", "lastModified": datetime.datetime(2013, 10, 2, 1, 11, 18, 965000)})
        before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0) - datetime.timedelta(seconds=2)
        coll.update_one(
            {"_id": 1},
            {"$currentDate": {"lastModified": True, "cancellation.date": {"$type": "timestamp"}}, "$set": {"status": "D", "cancellation.reason": "user request"}},
        )
        d = doc(coll, 1)
        assert d["status"] == "D"
        assert isinstance(d["lastModified"], datetime.datetime)
        assert d["lastModified"].replace(tzinfo=None) >= before
        assert bson_type(coll, 1, "lastModified") == "date"
        assert isinstance(d["cancellation"]["date"], Timestamp)
        assert d["cancellation"]["reason"] == "user request"
        assert bson_type(coll, 1, "cancellation.date") == "timestamp"
        coll.update_one({"_id": 1}, {"$currentDate": {"d": {"$type": "date"}}})
        assert bson_type(coll, 1, "d") == "date"

    def test_current_date_bad_type_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$currentDate": {"d": {"$type": "string"}}})


# ---------------------------------------------------------------------------------------------
# $bit  (https://www.mongodb.com/docs/manual/reference/operator/update/bit/)
# ---------------------------------------------------------------------------------------------


class TestBit:
    def test_and_or_xor(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "expdata": 13}, {"_id": 2, "expdata": Int64(3)}, {"_id": 3, "expdata": Int64(1)}])
        coll.update_one({"_id": 1}, {"$bit": {"expdata": {"and": 10}}})
        coll.update_one({"_id": 2}, {"$bit": {"expdata": {"or": 5}}})
        coll.update_one({"_id": 3}, {"$bit": {"expdata": {"xor": 5}}})
        assert [d["expdata"] for d in all_docs(coll)] == [8, 7, 4]
        assert bson_type(coll, 1, "expdata") == "int"
        assert bson_type(coll, 2, "expdata") == "long"

    def test_non_integer_field_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "e": 1.5})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$bit": {"e": {"or": 1}}})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$bit": {"e": {"nand": 1}}})


# ---------------------------------------------------------------------------------------------
# $setOnInsert  (https://www.mongodb.com/docs/manual/reference/operator/update/setOnInsert/)
# ---------------------------------------------------------------------------------------------


class TestSetOnInsert:
    def test_applies_on_insert(self, coll: Any) -> None:
        res = coll.update_one({"_id": 1}, {"$set": {"item": "apple"}, "$setOnInsert": {"defaultQty": 100}}, upsert=True)
        assert res.upserted_id == 1
        assert doc(coll, 1) == {"_id": 1, "defaultQty": 100, "item": "apple"}

    def test_ignored_when_document_exists(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "item": "apple"})
        res = coll.update_one({"_id": 1}, {"$set": {"item": "pear"}, "$setOnInsert": {"defaultQty": 100}}, upsert=True)
        assert res.upserted_id is None
        assert (res.matched_count, res.modified_count) == (1, 1)
        assert doc(coll, 1) == {"_id": 1, "item": "pear"}
        res = coll.update_one({"_id": 1}, {"$setOnInsert": {"defaultQty": 100}}, upsert=True)
        assert (res.matched_count, res.modified_count) == (1, 0)


# ---------------------------------------------------------------------------------------------
# $push with modifiers  (https://www.mongodb.com/docs/manual/reference/operator/update/push/,
# .../each/, .../slice/, .../sort/, .../position/)
# ---------------------------------------------------------------------------------------------


class TestPush:
    def test_push_value(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "scores": [44, 78, 38, 80]})
        coll.update_one({"_id": 1}, {"$push": {"scores": 89}})
        assert doc(coll, 1)["scores"] == [44, 78, 38, 80, 89]
        # an array value is appended as a single element
        coll.update_one({"_id": 1}, {"$push": {"scores": [2, 3]}})
        assert doc(coll, 1)["scores"] == [44, 78, 38, 80, 89, [2, 3]]
        # a missing field becomes an array with the value
        coll.update_one({"_id": 1}, {"$push": {"new": 1}})
        assert doc(coll, 1)["new"] == [1]

    def test_push_on_non_array_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 5})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$push": {"a": 1}})
        assert ei.value.code == 2  # BadValue
        assert "The field 'a' must be an array but is of type int" in write_error(ei)["errmsg"]

    def test_each(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "name": "joe", "scores": [1]})
        coll.update_one({"name": "joe"}, {"$push": {"scores": {"$each": [90, 92, 85]}}})
        assert doc(coll, 1)["scores"] == [1, 90, 92, 85]

    def test_each_sort_slice_on_documents(self, coll: Any) -> None:
        coll.insert_one({"_id": 5, "quizzes": [{"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 3, "score": 5}, {"wk": 4, "score": 6}]})
        coll.update_one(
            {"_id": 5},
            {"$push": {"quizzes": {"$each": [{"wk": 5, "score": 8}, {"wk": 6, "score": 7}, {"wk": 7, "score": 6}], "$sort": {"score": -1}, "$slice": 3}}},
        )
        assert doc(coll, 5)["quizzes"] == [{"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 5, "score": 8}]

    def test_sort_documents_by_field_ascending(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "quizzes": [{"id": 1, "score": 6}, {"id": 2, "score": 9}]})
        coll.update_one({"_id": 1}, {"$push": {"quizzes": {"$each": [{"id": 3, "score": 8}, {"id": 4, "score": 7}, {"id": 5, "score": 6}], "$sort": {"score": 1}}}})
        assert doc(coll, 1)["quizzes"] == [
            {"id": 1, "score": 6},
            {"id": 5, "score": 6},
            {"id": 4, "score": 7},
            {"id": 3, "score": 8},
            {"id": 2, "score": 9},
        ]

    def test_sort_scalars_and_empty_each(self, coll: Any) -> None:
        coll.insert_many([{"_id": 2, "tests": [89, 70, 89, 50]}, {"_id": 3, "tests": [89, 70, 100, 20]}])
        coll.update_one({"_id": 2}, {"$push": {"tests": {"$each": [40, 60], "$sort": 1}}})
        assert doc(coll, 2)["tests"] == [40, 50, 60, 70, 89, 89]
        coll.update_one({"_id": 3}, {"$push": {"tests": {"$each": [], "$sort": -1}}})
        assert doc(coll, 3)["tests"] == [100, 89, 70, 20]

    def test_slice_negative_and_positive(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "scores": [40, 50, 60]}, {"_id": 2, "scores": [89, 90]}, {"_id": 3, "scores": [89, 70, 100, 20]}])
        coll.update_one({"_id": 1}, {"$push": {"scores": {"$each": [80, 78, 86], "$slice": -5}}})
        assert doc(coll, 1)["scores"] == [50, 60, 80, 78, 86]
        coll.update_one({"_id": 2}, {"$push": {"scores": {"$each": [100, 20], "$slice": 3}}})
        assert doc(coll, 2)["scores"] == [89, 90, 100]
        coll.update_one({"_id": 3}, {"$push": {"scores": {"$each": [], "$slice": 0}}})
        assert doc(coll, 3)["scores"] == []

    def test_position(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "scores": [100]})
        coll.update_one({"_id": 1}, {"$push": {"scores": {"$each": [50, 60, 70], "$position": 0}}})
        assert doc(coll, 1)["scores"] == [50, 60, 70, 100]
        coll.update_one({"_id": 1}, {"$push": {"scores": {"$each": [20, 30], "$position": 2}}})
        assert doc(coll, 1)["scores"] == [50, 60, 20, 30, 70, 100]

    def test_negative_position(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "scores": [50, 60, 70, 100]})
        coll.update_one({"_id": 1}, {"$push": {"scores": {"$each": [90, 80], "$position": -2}}})
        assert doc(coll, 1)["scores"] == [50, 60, 90, 80, 70, 100]
        # "If the absolute value of the number is greater than or equal to the length of the
        # array, the $position is the start of the array."
        coll.update_one({"_id": 1}, {"$push": {"scores": {"$each": [0], "$position": -100}}})
        assert doc(coll, 1)["scores"] == [0, 50, 60, 90, 80, 70, 100]

    def test_position_beyond_length_appends(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1, 2]})
        coll.update_one({"_id": 1}, {"$push": {"a": {"$each": [3], "$position": 10}}})
        assert doc(coll, 1)["a"] == [1, 2, 3]

    def test_modifier_validation(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1, 2, 3]})
        for spec in (
            {"$each": 5},
            {"$each": [4], "$slice": 1.5},
            {"$each": [4], "$position": 1.5},
            {"$each": [4], "$sort": 2},
            {"$each": [4], "$foo": 1},
        ):
            with pytest.raises(WriteError) as ei:
                coll.update_one({"_id": 1}, {"$push": {"a": spec}})
            assert ei.value.code == 2, spec
        assert doc(coll, 1)["a"] == [1, 2, 3]

    def test_push_multiple_fields(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [], "b": [1]})
        coll.update_one({"_id": 1}, {"$push": {"a": "x", "b": {"$each": [2, 3]}}})
        assert doc(coll, 1) == {"_id": 1, "a": ["x"], "b": [1, 2, 3]}


# ---------------------------------------------------------------------------------------------
# $addToSet  (https://www.mongodb.com/docs/manual/reference/operator/update/addToSet/)
# ---------------------------------------------------------------------------------------------


class TestAddToSet:
    def test_add_value_and_existing_value(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "item": "polarizing_filter", "tags": ["electronics", "camera"]})
        res = coll.update_one({"_id": 1}, {"$addToSet": {"tags": "accessories"}})
        assert res.modified_count == 1
        res = coll.update_one({"_id": 1}, {"$addToSet": {"tags": "camera"}})
        assert (res.matched_count, res.modified_count) == (1, 0)
        assert doc(coll, 1)["tags"] == ["electronics", "camera", "accessories"]
        coll.insert_one({"_id": 2, "letters": ["a", "b"]})
        coll.update_one({"_id": 2}, {"$addToSet": {"letters": ["c", "d"]}})
        assert doc(coll, 2)["letters"] == ["a", "b", ["c", "d"]]

    def test_each(self, coll: Any) -> None:
        coll.insert_one({"_id": 2, "item": "cable", "tags": ["electronics", "supplies"]})
        coll.update_one({"_id": 2}, {"$addToSet": {"tags": {"$each": ["camera", "electronics", "accessories", "camera"]}}})
        assert doc(coll, 2)["tags"] == ["electronics", "supplies", "camera", "accessories"]

    def test_documents_compare_with_field_order(self, coll: Any) -> None:
        # "If the value is a document, MongoDB determines that the document is a duplicate if
        # an existing document in the array matches the to-be-added document exactly; i.e. the
        # existing document has the exact same fields and values and the fields are in the
        # same order."
        coll.insert_one({"_id": 1, "a": [{"x": 1, "y": 2}]})
        res = coll.update_one({"_id": 1}, {"$addToSet": {"a": {"x": 1, "y": 2}}})
        assert res.modified_count == 0
        res = coll.update_one({"_id": 1}, {"$addToSet": {"a": {"y": 2, "x": 1}}})
        assert res.modified_count == 1
        assert doc(coll, 1)["a"] == [{"x": 1, "y": 2}, {"y": 2, "x": 1}]

    def test_missing_field_creates_array(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        coll.update_one({"_id": 1}, {"$addToSet": {"a": {"$each": [1, 1, 2]}}})
        assert doc(coll, 1)["a"] == [1, 2]

    def test_non_array_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "colors": "blue, green, red"})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$addToSet": {"colors": "c"}})
        assert ei.value.code == 2
        assert doc(coll, 1)["colors"] == "blue, green, red"


# ---------------------------------------------------------------------------------------------
# $pop  (https://www.mongodb.com/docs/manual/reference/operator/update/pop/)
# ---------------------------------------------------------------------------------------------


class TestPop:
    def test_pop_first_then_last(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "scores": [8, 9, 10]})
        coll.update_one({"_id": 1}, {"$pop": {"scores": -1}})
        assert doc(coll, 1)["scores"] == [9, 10]
        coll.update_one({"_id": 1}, {"$pop": {"scores": 1}})
        assert doc(coll, 1)["scores"] == [9]

    def test_pop_empty_and_missing_are_noops(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": []})
        res = coll.update_one({"_id": 1}, {"$pop": {"a": 1, "missing": 1}})
        assert (res.matched_count, res.modified_count) == (1, 0)
        assert doc(coll, 1) == {"_id": 1, "a": []}

    def test_pop_invalid_argument_and_non_array_are_errors(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1, 2]})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$pop": {"a": 2}})
        assert doc(coll, 1)["a"] == [1, 2]
        coll.insert_one({"_id": 2, "a": 5})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 2}, {"$pop": {"a": 1}})
        assert ei.value.code == 14


# ---------------------------------------------------------------------------------------------
# $pull / $pullAll  (https://www.mongodb.com/docs/manual/reference/operator/update/pull/,
# .../pullAll/)
# ---------------------------------------------------------------------------------------------


class TestPull:
    def test_pull_values_in_and_condition(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "fruits": ["apples", "pears", "oranges", "grapes", "bananas"], "vegetables": ["carrots", "celery", "squash", "carrots"]},
                {"_id": 2, "fruits": ["plums", "kiwis", "oranges", "bananas", "apples"], "vegetables": ["broccoli", "zucchini", "carrots", "onions"]},
            ]
        )
        res = coll.update_many({}, {"$pull": {"fruits": {"$in": ["apples", "oranges"]}, "vegetables": "carrots"}})
        assert (res.matched_count, res.modified_count) == (2, 2)
        assert doc(coll, 1) == {"_id": 1, "fruits": ["pears", "grapes", "bananas"], "vegetables": ["celery", "squash"]}
        assert doc(coll, 2) == {"_id": 2, "fruits": ["plums", "kiwis", "bananas"], "vegetables": ["broccoli", "zucchini", "onions"]}
        coll.insert_one({"_id": 3, "votes": [3, 5, 6, 7, 7, 8]})
        coll.update_one({"_id": 3}, {"$pull": {"votes": {"$gte": 6}}})
        assert doc(coll, 3)["votes"] == [3, 5]

    def test_pull_documents_matching_all_fields(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "results": [{"item": "A", "score": 5}, {"item": "B", "score": 8}]},
                {"_id": 2, "results": [{"item": "C", "score": 8}, {"item": "B", "score": 4}]},
            ]
        )
        res = coll.update_many({}, {"$pull": {"results": {"score": 8, "item": "B"}}})
        assert (res.matched_count, res.modified_count) == (2, 1)
        assert doc(coll, 1)["results"] == [{"item": "A", "score": 5}]
        assert doc(coll, 2)["results"] == [{"item": "C", "score": 8}, {"item": "B", "score": 4}]

    def test_pull_document_subset_of_fields(self, coll: Any) -> None:
        # the condition is a query on each element, so a subset of fields matches
        coll.insert_one({"_id": 1, "a": [{"x": 1, "y": 1}, {"x": 2, "y": 1}, {"x": 1, "y": 3}]})
        coll.update_one({"_id": 1}, {"$pull": {"a": {"x": 1}}})
        assert doc(coll, 1)["a"] == [{"x": 2, "y": 1}]

    def test_pull_nested_elem_match(self, coll: Any) -> None:
        coll.insert_many(
            [
                {
                    "_id": 1,
                    "results": [
                        {"item": "A", "score": 5, "answers": [{"q": 1, "a": 4}, {"q": 2, "a": 6}]},
                        {"item": "B", "score": 8, "answers": [{"q": 1, "a": 8}, {"q": 2, "a": 9}]},
                    ],
                },
                {
                    "_id": 2,
                    "results": [
                        {"item": "C", "score": 8, "answers": [{"q": 1, "a": 8}, {"q": 2, "a": 7}]},
                        {"item": "B", "score": 4, "answers": [{"q": 1, "a": 0}, {"q": 2, "a": 8}]},
                    ],
                },
            ]
        )
        coll.update_many({}, {"$pull": {"results": {"answers": {"$elemMatch": {"q": 2, "a": {"$gte": 8}}}}}})
        assert [r["item"] for r in doc(coll, 1)["results"]] == ["A"]
        assert [r["item"] for r in doc(coll, 2)["results"]] == ["C"]

    def test_pull_array_value_matches_exactly_in_order(self, coll: Any) -> None:
        # "If the specified <value> to remove is an array, $pull removes only the elements in
        # the array that match the specified <value> exactly, including order."
        coll.insert_one({"_id": 1, "a": [[1, 2], [2, 1], [1, 2, 3]]})
        coll.update_one({"_id": 1}, {"$pull": {"a": [1, 2]}})
        assert doc(coll, 1)["a"] == [[2, 1], [1, 2, 3]]

    def test_pull_missing_field_is_noop_and_non_array_errors(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "s": "x"})
        res = coll.update_one({"_id": 1}, {"$pull": {"missing": 1}})
        assert res.modified_count == 0
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$pull": {"s": "x"}})

    def test_pull_all(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "scores": [0, 2, 5, 5, 1, 0]})
        coll.update_one({"_id": 1}, {"$pullAll": {"scores": [0, 5]}})
        assert doc(coll, 1)["scores"] == [2, 1]

    def test_pull_all_documents_exact(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [{"x": 1}, {"x": 1, "y": 2}, {"x": 2}]})
        coll.update_one({"_id": 1}, {"$pullAll": {"a": [{"x": 1}]}})
        assert doc(coll, 1)["a"] == [{"x": 1, "y": 2}, {"x": 2}]
        # "... match the specified value exactly, including order."
        res = coll.update_one({"_id": 1}, {"$pullAll": {"a": [{"y": 2, "x": 1}]}})
        assert res.modified_count == 0


# ---------------------------------------------------------------------------------------------
# Positional $  (https://www.mongodb.com/docs/manual/reference/operator/update/positional/)
# ---------------------------------------------------------------------------------------------


class TestPositional:
    def test_update_matched_scalar(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "grades": [85, 80, 80]}, {"_id": 2, "grades": [88, 90, 92]}, {"_id": 3, "grades": [85, 100, 90]}])
        coll.update_one({"_id": 1, "grades": 80}, {"$set": {"grades.$": 82}})
        assert doc(coll, 1)["grades"] == [85, 82, 80]

    def test_update_matched_embedded_document(self, coll: Any) -> None:
        coll.insert_one({"_id": 4, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 5}, {"grade": 85, "mean": 85, "std": 8}]})
        coll.update_one({"_id": 4, "grades.grade": 85}, {"$set": {"grades.$.std": 6}})
        assert doc(coll, 4)["grades"] == [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 6}, {"grade": 85, "mean": 85, "std": 8}]

    def test_elem_match_multiple_criteria(self, coll: Any) -> None:
        coll.insert_one({"_id": 5, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 5}, {"grade": 90, "mean": 85, "std": 3}]})
        coll.update_one({"_id": 5, "grades": {"$elemMatch": {"grade": {"$lte": 90}, "mean": {"$gt": 80}}}}, {"$set": {"grades.$.std": 6}})
        assert doc(coll, 5)["grades"] == [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 6}, {"grade": 90, "mean": 85, "std": 3}]

    def test_positional_with_range_condition_and_update_many(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": [1, 5, 9]}, {"_id": 2, "a": [7, 2]}, {"_id": 3, "a": [0]}])
        res = coll.update_many({"a": {"$gt": 4}}, {"$inc": {"a.$": 100}})
        assert (res.matched_count, res.modified_count) == (2, 2)
        assert doc(coll, 1)["a"] == [1, 105, 9]
        assert doc(coll, 2)["a"] == [107, 2]
        assert doc(coll, 3)["a"] == [0]

    def test_positional_into_embedded_array(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [{"k": 1, "v": [], "b": [1]}, {"k": 2, "v": [], "b": [2, 3]}]})
        coll.update_one({"a.k": 2}, {"$push": {"a.$.v": 9}})
        coll.update_one({"a.b": 1}, {"$set": {"a.$.seen": True}})
        assert doc(coll, 1)["a"] == [{"k": 1, "v": [], "b": [1], "seen": True}, {"k": 2, "v": [9], "b": [2, 3]}]

    def test_positional_unset_leaves_null(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": ["x", "y", "z"]})
        coll.update_one({"a": "y"}, {"$unset": {"a.$": ""}})
        assert doc(coll, 1)["a"] == ["x", None, "z"]

    def test_positional_without_array_in_query_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "grades": [1, 2]})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"grades.$": 5}})
        assert ei.value.code == 2
        assert "The positional operator did not find the match needed from the query." in write_error(ei)["errmsg"]


# ---------------------------------------------------------------------------------------------
# All positional $[]  (https://www.mongodb.com/docs/manual/reference/operator/update/positional-all/)
# ---------------------------------------------------------------------------------------------


class TestAllPositional:
    def test_update_all_elements(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "grades": [85, 82, 80]}, {"_id": 2, "grades": [88, 90, 92]}, {"_id": 3, "grades": [85, 100, 90]}])
        res = coll.update_many({}, {"$inc": {"grades.$[]": 10}})
        assert (res.matched_count, res.modified_count) == (3, 3)
        assert [d["grades"] for d in all_docs(coll)] == [[95, 92, 90], [98, 100, 102], [95, 110, 100]]

    def test_update_all_documents_in_array(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 6}, {"grade": 85, "mean": 85, "std": 8}]})
        coll.update_many({}, {"$inc": {"grades.$[].std": -2}})
        assert [g["std"] for g in doc(coll, 1)["grades"]] == [6, 4, 6]

    def test_nested_with_filtered_positional(self, coll: Any) -> None:
        coll.insert_one(
            {
                "_id": 1,
                "grades": [
                    {"type": "quiz", "questions": [10, 8, 5]},
                    {"type": "quiz", "questions": [8, 9, 6]},
                    {"type": "hw", "questions": [5, 4, 3]},
                    {"type": "exam", "questions": [25, 10, 23, 0]},
                ],
            }
        )
        coll.update_many({}, {"$inc": {"grades.$[].questions.$[score]": 2}}, array_filters=[{"score": {"$gte": 8}}])
        assert [g["questions"] for g in doc(coll, 1)["grades"]] == [[12, 10, 5], [10, 11, 6], [5, 4, 3], [27, 12, 25, 0]]

    def test_nested_all_positional(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "m": [[1, 2], [3]]})
        coll.update_one({"_id": 1}, {"$mul": {"m.$[].$[]": 10}})
        assert doc(coll, 1)["m"] == [[10, 20], [30]]

    def test_upsert_with_exact_array_equality(self, coll: Any) -> None:
        # "If an upsert operation results in an insert, the query must include an exact equality
        # match on the array field in order to use the $[] positional operator"
        res = coll.update_one({"myArray": [5, 8]}, {"$set": {"myArray.$[]": 10}}, upsert=True)
        assert res.upserted_id is not None
        d = doc(coll, res.upserted_id)
        assert d["myArray"] == [10, 10]

    def test_upsert_without_array_equality_is_an_error(self, coll: Any) -> None:
        with pytest.raises(WriteError):
            coll.update_one({}, {"$set": {"myArray.$[]": 10}}, upsert=True)
        assert coll.count_documents({}) == 0

    def test_all_positional_on_non_array_or_missing_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": {"b": 1}})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$set": {"a.$[]": 1}})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"m.$[]": 1}})
        assert ei.value.code == 2
        assert "The path 'm' must exist in the document in order to apply array updates." in write_error(ei)["errmsg"]


# ---------------------------------------------------------------------------------------------
# Filtered positional $[<identifier>] with arrayFilters
# (https://www.mongodb.com/docs/manual/reference/operator/update/positional-filtered/)
# ---------------------------------------------------------------------------------------------


class TestArrayFilters:
    def test_scalar_elements(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "grades": [95, 92, 90]}, {"_id": 2, "grades": [98, 100, 102]}, {"_id": 3, "grades": [95, 110, 100]}])
        res = coll.update_many({}, {"$set": {"grades.$[element]": 100}}, array_filters=[{"element": {"$gte": 100}}])
        assert (res.matched_count, res.modified_count) == (3, 2)
        assert [d["grades"] for d in all_docs(coll)] == [[95, 92, 90], [98, 100, 100], [95, 100, 100]]

    def test_subdocument_field_condition(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "grades": [{"grade": 80, "mean": 75, "std": 6}, {"grade": 85, "mean": 90, "std": 4}, {"grade": 85, "mean": 85, "std": 6}]})
        coll.update_many({}, {"$set": {"grades.$[elem].mean": 100}}, array_filters=[{"elem.grade": {"$gte": 85}}])
        assert [g["mean"] for g in doc(coll, 1)["grades"]] == [75, 100, 100]

    def test_multiple_conditions(self, coll: Any) -> None:
        coll.insert_one({"_id": 2, "grades": [{"grade": 90, "mean": 75, "std": 6}, {"grade": 87, "mean": 90, "std": 3}, {"grade": 85, "mean": 85, "std": 4}]})
        coll.update_many({}, {"$inc": {"grades.$[elem].std": -1}}, array_filters=[{"elem.grade": {"$gte": 80}, "elem.std": {"$gt": 5}}])
        assert [g["std"] for g in doc(coll, 2)["grades"]] == [5, 3, 4]

    def test_negation_and_nested_identifiers(self, coll: Any) -> None:
        coll.insert_one(
            {
                "_id": 1,
                "degrees": [
                    {"level": "Master", "years": [{"y": 2019, "ok": False}, {"y": 2020, "ok": False}]},
                    {"level": "Bachelor", "years": [{"y": 2015, "ok": False}]},
                ],
            }
        )
        coll.update_one(
            {"_id": 1},
            {"$set": {"degrees.$[d].years.$[y].ok": True}},
            array_filters=[{"d.level": {"$ne": "Bachelor"}}, {"y.y": {"$gte": 2020}}],
        )
        d = doc(coll, 1)
        assert d["degrees"][0]["years"] == [{"y": 2019, "ok": False}, {"y": 2020, "ok": True}]
        assert d["degrees"][1]["years"] == [{"y": 2015, "ok": False}]

    def test_in_operator_in_filter(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [{"t": "x", "v": 0}, {"t": "y", "v": 0}, {"t": "z", "v": 0}]})
        coll.update_one({"_id": 1}, {"$set": {"a.$[e].v": 1}}, array_filters=[{"e.t": {"$in": ["x", "z"]}}])
        assert [e["v"] for e in doc(coll, 1)["a"]] == [1, 0, 1]

    def test_find_one_and_update_with_array_filters(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1, 5, 10]})
        after = coll.find_one_and_update({"_id": 1}, {"$set": {"a.$[x]": 0}}, array_filters=[{"x": {"$lt": 6}}], return_document=ReturnDocument.AFTER)
        assert after["a"] == [0, 0, 10]

    def test_unused_array_filter_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1]})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"a.$[x]": 0}}, array_filters=[{"x": 1}, {"y": 2}])
        assert ei.value.code == 9
        assert "The array filter for identifier 'y' was not used in the update" in write_error(ei)["errmsg"]

    def test_missing_array_filter_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1]})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, {"$set": {"a.$[x]": 0}})
        assert ei.value.code == 2
        assert "No array filter found for identifier 'x' in path 'a.$[x]'" in write_error(ei)["errmsg"]


# ---------------------------------------------------------------------------------------------
# Updates with an aggregation pipeline
# (https://www.mongodb.com/docs/manual/tutorial/update-documents-with-aggregation-pipeline/)
# ---------------------------------------------------------------------------------------------


class TestPipelineUpdates:
    def test_set_and_unset_stages(self, coll: Any) -> None:
        coll.insert_many(
            [
                {"_id": 1, "member": "abc123", "status": "A", "points": 2, "misc1": "note to self: confirm status", "misc2": "Need to activate"},
                {"_id": 2, "member": "xyz123", "status": "A", "points": 60, "misc1": "reminder: ping me at 100pts", "misc2": "Some random comment"},
            ]
        )
        res = coll.update_one({"_id": 2}, [{"$set": {"status": "Modified", "comments": ["$misc1", "$misc2"]}}, {"$unset": ["misc1", "misc2"]}])
        assert (res.matched_count, res.modified_count) == (1, 1)
        assert doc(coll, 2) == {"_id": 2, "member": "xyz123", "status": "Modified", "points": 60, "comments": ["reminder: ping me at 100pts", "Some random comment"]}

    def test_now_variable(self, coll: Any) -> None:
        coll.insert_one({"_id": 3, "test1": 95, "test2": 110, "test3": 100})
        coll.update_one({"_id": 3}, [{"$set": {"test3": 98, "modified": "$$NOW"}}])
        d = doc(coll, 3)
        assert d["test3"] == 98
        assert isinstance(d["modified"], datetime.datetime)

    def test_replace_root_merge_objects_with_root(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "quiz1": 8, "test2": 100, "quiz2": 9}, {"_id": 2, "quiz2": 5, "test1": 80, "test2": 89}])
        coll.update_many({}, [{"$replaceRoot": {"newRoot": {"$mergeObjects": [{"quiz1": 0, "quiz2": 0, "test1": 0, "test2": 0}, "$$ROOT"]}}}])
        assert doc(coll, 1) == {"quiz1": 8, "quiz2": 9, "test1": 0, "test2": 100, "_id": 1}
        assert doc(coll, 2) == {"quiz1": 0, "quiz2": 5, "test1": 80, "test2": 89, "_id": 2}

    def test_replace_with(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "name": {"first": "John", "last": "Backus"}, "x": 1})
        coll.update_one({"_id": 1}, [{"$replaceWith": {"$mergeObjects": [{"_id": "$_id"}, "$name"]}}])
        assert doc(coll, 1) == {"_id": 1, "first": "John", "last": "Backus"}

    def test_replace_with_changing_id_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "x": 1})
        with pytest.raises(WriteError) as ei:
            coll.update_one({"_id": 1}, [{"$replaceWith": {"_id": 2, "x": 1}}])
        assert ei.value.code == 66
        assert doc(coll, 1) == {"_id": 1, "x": 1}

    def test_expressions_avg_trunc_switch(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "tests": [95, 92, 90]}, {"_id": 2, "tests": [94, 88, 90]}, {"_id": 3, "tests": [70, 75, 82]}])
        coll.update_many(
            {},
            [
                {"$set": {"average": {"$trunc": [{"$avg": "$tests"}, 0]}}},
                {
                    "$set": {
                        "grade": {
                            "$switch": {
                                "branches": [
                                    {"case": {"$gte": ["$average", 90]}, "then": "A"},
                                    {"case": {"$gte": ["$average", 80]}, "then": "B"},
                                    {"case": {"$gte": ["$average", 70]}, "then": "C"},
                                ],
                                "default": "F",
                            }
                        }
                    }
                },
            ],
        )
        assert [(d["average"], d["grade"]) for d in all_docs(coll)] == [(92, "A"), (90, "A"), (75, "C")]

    def test_concat_arrays(self, coll: Any) -> None:
        coll.insert_one({"_id": 2, "quizzes": [2, 2, 3]})
        coll.update_one({"_id": 2}, [{"$set": {"quizzes": {"$concatArrays": ["$quizzes", [8, 6]]}}}])
        assert doc(coll, 2)["quizzes"] == [2, 2, 3, 8, 6]

    def test_add_fields_with_map(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "date": "2019-06-23", "tempsC": [4, 12, 17]}, {"_id": 2, "date": "2019-07-07", "tempsC": [14, 24, 11]}])
        coll.update_many(
            {},
            [{"$addFields": {"tempsF": {"$map": {"input": "$tempsC", "as": "celsius", "in": {"$add": [{"$multiply": ["$$celsius", 9 / 5]}, 32]}}}}}],
        )
        assert doc(coll, 1)["tempsF"] == pytest.approx([39.2, 53.6, 62.6])
        assert doc(coll, 2)["tempsF"] == pytest.approx([57.2, 75.2, 51.8])

    def test_project_stage(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1, "b": 2, "c": 3})
        coll.update_one({"_id": 1}, [{"$project": {"a": 1, "sum": {"$add": ["$a", "$b"]}}}])
        assert doc(coll, 1) == {"_id": 1, "a": 1, "sum": 3}

    def test_replacement_without_id_keeps_id(self, coll: Any) -> None:
        # like a replacement document, a pipeline result without _id keeps the original _id
        coll.insert_many([{"_id": 1, "a": 1, "b": 2}, {"_id": 2, "sub": {"x": 1}, "b": 2}])
        coll.update_one({"_id": 1}, [{"$project": {"_id": 0, "a": 1}}])
        coll.update_one({"_id": 2}, [{"$replaceRoot": {"newRoot": "$sub"}}])
        assert all_docs(coll) == [{"_id": 1, "a": 1}, {"_id": 2, "x": 1}]

    def test_set_embedded_field_and_remove(self, coll: Any) -> None:
        # $set/$addFields: "To add a field or fields to embedded documents ... use the dot
        # notation"; $$REMOVE evaluates to missing, so the field is removed
        coll.insert_one({"_id": 1, "specs": {"doors": 4, "wheels": 4}, "tmp": 1})
        coll.update_one({"_id": 1}, [{"$set": {"specs.fuel_type": "unleaded", "tmp": "$$REMOVE"}}])
        assert doc(coll, 1) == {"_id": 1, "specs": {"doors": 4, "wheels": 4, "fuel_type": "unleaded"}}

    def test_array_filters_not_allowed_with_pipeline(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(OperationFailure):
            coll.update_one({"_id": 1}, [{"$set": {"a": 1}}], array_filters=[{"x": 1}])
        assert doc(coll, 1) == {"_id": 1}

    def test_let_variables(self, coll: Any) -> None:
        # updateOne/updateMany "let" option: variables usable as $$name in the filter ($expr)
        # and in pipeline stages
        coll.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
        res = coll.update_many({"$expr": {"$eq": ["$a", "$$target"]}}, [{"$set": {"b": "$$val"}}], let={"target": 2, "val": "hit"})
        assert (res.matched_count, res.modified_count) == (1, 1)
        assert all_docs(coll) == [{"_id": 1, "a": 1}, {"_id": 2, "a": 2, "b": "hit"}]

    def test_literal_dollar_string(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        coll.update_one({"_id": 1}, [{"$set": {"price": {"$literal": "$5.00"}}}])
        assert doc(coll, 1)["price"] == "$5.00"

    def test_pipeline_noop_counts(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        res = coll.update_one({"_id": 1}, [{"$set": {"a": 1}}])
        assert (res.matched_count, res.modified_count) == (1, 0)

    def test_pipeline_upsert_seeds_from_filter(self, coll: Any) -> None:
        res = coll.update_one({"_id": 7, "k": "v"}, [{"$set": {"k2": {"$concat": ["$k", "!"]}}}], upsert=True)
        assert res.upserted_id == 7
        assert doc(coll, 7) == {"_id": 7, "k": "v", "k2": "v!"}

    def test_disallowed_stage_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(OperationFailure):
            coll.update_one({"_id": 1}, [{"$match": {"_id": 1}}])


# ---------------------------------------------------------------------------------------------
# Upserts  (https://www.mongodb.com/docs/manual/reference/method/db.collection.updateOne/#upsert,
# .../db.collection.update/#upsert-behavior, "Upsert with Dotted _id Query")
# ---------------------------------------------------------------------------------------------


class TestUpsert:
    def test_seed_from_equality_fields(self, coll: Any) -> None:
        res = coll.update_one({"name": "Andy", "rating": {"$gt": 3}}, {"$set": {"score": 1}}, upsert=True)
        assert isinstance(res.upserted_id, ObjectId)
        assert res.matched_count == 0 and res.modified_count == 0
        d = doc(coll, res.upserted_id)
        assert d == {"_id": res.upserted_id, "name": "Andy", "score": 1}

    def test_seed_from_eq_operator_and_and(self, coll: Any) -> None:
        res = coll.update_one({"$and": [{"a": 1}, {"b": {"$eq": 2}}], "c": {"$gt": 3}}, {"$set": {"x": 0}}, upsert=True)
        d = doc(coll, res.upserted_id)
        assert {k: v for k, v in d.items() if k != "_id"} == {"a": 1, "b": 2, "x": 0}

    def test_seed_dotted_fields_create_embedded_documents(self, coll: Any) -> None:
        res = coll.update_one({"a.b": 1, "a.c": "x", "d": {"e": 2}}, {"$inc": {"n": 1}}, upsert=True)
        d = doc(coll, res.upserted_id)
        assert d["a"] == {"b": 1, "c": "x"}
        assert d["d"] == {"e": 2}
        assert d["n"] == 1

    def test_id_from_filter_is_used(self, coll: Any) -> None:
        res = coll.update_one({"_id": "user-1"}, {"$set": {"n": 1}}, upsert=True)
        assert res.upserted_id == "user-1"
        assert res.raw_result["upserted"] == "user-1"
        assert list(doc(coll, "user-1")) == ["_id", "n"]

    def test_update_overrides_seeded_value(self, coll: Any) -> None:
        res = coll.update_one({"a": 1}, {"$set": {"a": 2}, "$inc": {"n": 1}}, upsert=True)
        d = doc(coll, res.upserted_id)
        assert (d["a"], d["n"]) == (2, 1)

    def test_dotted_id_query_is_rejected(self, coll: Any) -> None:
        # db.collection.update(), "Upsert with Dotted _id Query": "MongoDB will refuse to insert
        # a new document if the query specifies conditions on the _id field using dot
        # notation." The manual's example uses a replacement document; the server answers
        # code 111 "field at '_id' must be exactly specified, field at sub-path '_id.name'found".
        with pytest.raises(WriteError) as ei:
            coll.replace_one({"_id.name": "Robert Frost", "_id.uid": 0}, {"categories": ["poet", "playwright"]}, upsert=True)
        assert ei.value.code == 111  # NotExactValueField
        assert "must be exactly specified" in write_error(ei)["errmsg"]
        assert coll.count_documents({}) == 0

    def test_upsert_matches_existing(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "name": "Andy", "n": 0})
        res = coll.update_one({"name": "Andy"}, {"$inc": {"n": 1}}, upsert=True)
        assert res.upserted_id is None
        assert (res.matched_count, res.modified_count) == (1, 1)
        assert coll.count_documents({}) == 1

    def test_update_many_upsert_inserts_one(self, coll: Any) -> None:
        res = coll.update_many({"kind": "x"}, {"$set": {"v": 1}}, upsert=True)
        assert res.upserted_id is not None
        assert coll.count_documents({"kind": "x", "v": 1}) == 1

    def test_replace_one_upsert_uses_filter_id_only(self, coll: Any) -> None:
        # replacement-style upsert: the new document is the replacement, with _id taken from an
        # _id equality in the filter; other filter fields are not copied.
        res = coll.replace_one({"_id": 7, "x": 1}, {"y": 2}, upsert=True)
        assert res.upserted_id == 7
        assert doc(coll, 7) == {"_id": 7, "y": 2}
        res = coll.replace_one({"x": 5}, {"y": 3}, upsert=True)
        d = doc(coll, res.upserted_id)
        assert {k: v for k, v in d.items() if k != "_id"} == {"y": 3}

    def test_set_on_insert_with_seeded_fields_and_array_ops(self, coll: Any) -> None:
        res = coll.update_one({"sku": "a1"}, {"$setOnInsert": {"created": True}, "$push": {"log": "x"}, "$addToSet": {"tags": "t"}}, upsert=True)
        d = doc(coll, res.upserted_id)
        assert {k: v for k, v in d.items() if k != "_id"} == {"sku": "a1", "created": True, "log": ["x"], "tags": ["t"]}


# ---------------------------------------------------------------------------------------------
# update_many counts and update validation (pymongo API docs: UpdateResult)
# ---------------------------------------------------------------------------------------------


class TestUpdateManyAndResults:
    def test_matched_vs_modified(self, coll: Any) -> None:
        coll.insert_many([{"_id": i, "status": "A" if i < 3 else "D"} for i in range(5)])
        res = coll.update_many({}, {"$set": {"status": "A"}})
        assert res.acknowledged is True
        assert (res.matched_count, res.modified_count, res.upserted_id) == (5, 2, None)
        assert res.raw_result == {"n": 5, "nModified": 2, "ok": 1.0, "updatedExisting": True}
        res = coll.update_many({"nope": 1}, {"$set": {"a": 1}})
        assert (res.matched_count, res.modified_count, res.upserted_id) == (0, 0, None)
        assert res.raw_result == {"n": 0, "nModified": 0, "ok": 1.0, "updatedExisting": False}

    def test_update_one_touches_only_one(self, coll: Any) -> None:
        coll.insert_many([{"_id": i, "k": 1} for i in range(3)])
        res = coll.update_one({"k": 1}, {"$set": {"k": 2}})
        assert (res.matched_count, res.modified_count) == (1, 1)
        assert coll.count_documents({"k": 2}) == 1

    def test_upsert_raw_result(self, coll: Any) -> None:
        res = coll.update_one({"_id": 3}, {"$set": {"a": 1}}, upsert=True)
        assert res.raw_result == {"n": 1, "nModified": 0, "upserted": 3, "ok": 1.0, "updatedExisting": False}
        assert (res.matched_count, res.modified_count, res.upserted_id, res.did_upsert) == (0, 0, 3, True)

    def test_raw_result_same_through_command_path(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 0})
        fast = coll.update_one({"_id": 1}, {"$set": {"a": 1}})
        slow = coll.update_one({"_id": 1}, {"$set": {"a": 2}}, comment="via command")
        assert fast.raw_result == slow.raw_result == {"n": 1, "nModified": 1, "ok": 1.0, "updatedExisting": True}

    def test_update_error_in_update_many_stops_and_keeps_earlier(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": "x"}, {"_id": 3, "n": 3}])
        with pytest.raises(WriteError) as ei:
            coll.update_many({}, {"$inc": {"n": 1}})
        assert ei.value.code == 14
        # the operation as a whole is not atomic: the document before the failing one stays
        # updated, the ones after are not reached
        assert [d["n"] for d in all_docs(coll)] == [2, "x", 3]

    def test_each_document_updated_once(self, coll: Any) -> None:
        # a multi-update whose change keeps documents matching still updates each one once,
        # with or without an index on the updated field
        coll.create_index("a")
        coll.insert_many([{"_id": i, "a": i} for i in range(5)])
        res = coll.update_many({"a": {"$lt": 10}}, {"$inc": {"a": 5}})
        assert (res.matched_count, res.modified_count) == (5, 5)
        assert [d["a"] for d in all_docs(coll)] == [5, 6, 7, 8, 9]

    def test_update_many_is_not_atomic_on_duplicate_key(self, coll: Any) -> None:
        # "the modification of each document is atomic, but the operation as a whole is not"
        coll.create_index("k", unique=True)
        coll.insert_many([{"_id": 1, "k": 1}, {"_id": 2, "k": 2}, {"_id": 3, "k": 3}])
        with pytest.raises(DuplicateKeyError) as ei:
            coll.update_many({}, {"$set": {"k": 5}})
        assert "index: k_1 dup key: { k: 5 }" in write_error(ei)["errmsg"]
        assert [d["k"] for d in all_docs(coll)] == [5, 2, 3]

    def test_update_one_sort_option(self, coll: Any) -> None:
        # updateOne/replaceOne "sort" option (MongoDB 8.0): which matching document is updated
        coll.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 3}, {"_id": 3, "x": 2}])
        coll.update_one({}, {"$set": {"hit": True}}, sort={"x": -1})
        coll.replace_one({}, {"r": 1}, sort={"x": 1})
        assert all_docs(coll) == [{"_id": 1, "r": 1}, {"_id": 2, "x": 3, "hit": True}, {"_id": 3, "x": 2}]

    def test_hint_must_name_an_existing_index(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        res = coll.update_one({}, {"$set": {"a": 1}}, hint="_id_")
        assert res.modified_count == 1
        with pytest.raises(OperationFailure):
            coll.update_one({}, {"$set": {"a": 2}}, hint="nope_1")
        assert doc(coll, 1)["a"] == 1

    def test_result_over_16mb_is_an_error(self, coll: Any) -> None:
        # "The maximum BSON document size is 16 mebibytes."
        big = "x" * (9 * 1024 * 1024)
        coll.insert_one({"_id": 1, "a": big})
        with pytest.raises(WriteError):
            coll.update_one({"_id": 1}, {"$set": {"b": big}})
        assert set(doc(coll, 1)) == {"_id", "a"}

    def test_update_document_must_use_operators(self, coll: Any) -> None:
        with pytest.raises(ValueError):
            coll.update_one({}, {"a": 1})
        with pytest.raises(ValueError):
            coll.update_many({}, {})

    def test_update_to_duplicate_unique_key(self, coll: Any) -> None:
        coll.create_index("email", unique=True)
        coll.insert_many([{"_id": 1, "email": "a@x"}, {"_id": 2, "email": "b@x"}])
        with pytest.raises(DuplicateKeyError) as ei:
            coll.update_one({"_id": 2}, {"$set": {"email": "a@x"}})
        assert ei.value.code == 11000
        assert doc(coll, 2)["email"] == "b@x"


# ---------------------------------------------------------------------------------------------
# replace_one  (https://www.mongodb.com/docs/manual/reference/method/db.collection.replaceOne/)
# ---------------------------------------------------------------------------------------------


class TestReplaceOne:
    def test_replace_keeps_id(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "name": "Central Perk Cafe", "Borough": "Manhattan", "violations": 3})
        res = coll.replace_one({"name": "Central Perk Cafe"}, {"name": "Central Pork Cafe", "Borough": "Manhattan"})
        assert (res.matched_count, res.modified_count) == (1, 1)
        assert list(doc(coll, 1).items()) == [("_id", 1), ("name", "Central Pork Cafe"), ("Borough", "Manhattan")]

    def test_replacement_may_not_contain_operators(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(ValueError):
            coll.replace_one({"_id": 1}, {"$set": {"a": 1}})

    def test_changing_id_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        with pytest.raises(WriteError) as ei:
            coll.replace_one({"_id": 1}, {"_id": 2, "a": 2})
        assert ei.value.code == 66
        assert "_id" in write_error(ei)["errmsg"]
        assert all_docs(coll) == [{"_id": 1, "a": 1}]

    def test_same_id_is_allowed(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        res = coll.replace_one({"a": 1}, {"b": 2, "_id": 1})
        assert res.modified_count == 1
        assert doc(coll, 1) == {"_id": 1, "b": 2}

    def test_identical_replacement_and_no_match(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        res = coll.replace_one({"_id": 1}, {"a": 1})
        assert (res.matched_count, res.modified_count) == (1, 0)
        res = coll.replace_one({"_id": 2}, {"a": 1})
        assert (res.matched_count, res.modified_count, res.upserted_id) == (0, 0, None)
        assert coll.count_documents({}) == 1


# ---------------------------------------------------------------------------------------------
# find_one_and_*  (https://www.mongodb.com/docs/manual/reference/method/db.collection.findOneAndUpdate/,
# findOneAndReplace, findOneAndDelete; pymongo Collection.find_one_and_update)
# ---------------------------------------------------------------------------------------------

SCORES = [
    {"_id": 1521, "name": "A. MacDyver", "assignment": 5, "points": 24},
    {"_id": 2231, "name": "R. Stiles", "assignment": 2, "points": 12},
    {"_id": 2491, "name": "A. MacDyver", "assignment": 2, "points": 22},
    {"_id": 3021, "name": "R. Stiles", "assignment": 5, "points": 8},
]


class TestFindOneAnd:
    def test_update_returns_before_by_default(self, coll: Any) -> None:
        coll.insert_many([dict(d) for d in SCORES])
        before = coll.find_one_and_update({"name": "R. Stiles"}, {"$inc": {"points": 5}}, sort=[("points", 1)])
        assert before == {"_id": 3021, "name": "R. Stiles", "assignment": 5, "points": 8}
        assert doc(coll, 3021)["points"] == 13

    def test_update_return_after_with_projection(self, coll: Any) -> None:
        coll.insert_many([dict(d) for d in SCORES])
        after = coll.find_one_and_update(
            {"name": "A. MacDyver"},
            {"$inc": {"points": 5}},
            sort=[("points", -1)],
            projection={"points": 1, "_id": 0},
            return_document=ReturnDocument.AFTER,
        )
        assert after == {"points": 29}
        assert doc(coll, 1521)["points"] == 29

    def test_update_no_match_returns_none(self, coll: Any) -> None:
        assert coll.find_one_and_update({"_id": 1}, {"$set": {"a": 1}}) is None
        assert coll.count_documents({}) == 0

    def test_update_upsert(self, coll: Any) -> None:
        assert coll.find_one_and_update({"_id": 5}, {"$set": {"a": 1}}, upsert=True) is None
        after = coll.find_one_and_update({"_id": 6, "k": "v"}, {"$set": {"a": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
        assert after == {"_id": 6, "k": "v", "a": 1}
        assert coll.count_documents({}) == 2

    def test_update_with_pipeline(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 2, "b": 3})
        after = coll.find_one_and_update({"_id": 1}, [{"$set": {"c": {"$multiply": ["$a", "$b"]}}}], return_document=ReturnDocument.AFTER)
        assert after == {"_id": 1, "a": 2, "b": 3, "c": 6}

    def test_update_error_is_raised(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": "x"})
        with pytest.raises(OperationFailure) as ei:
            coll.find_one_and_update({"_id": 1}, {"$inc": {"a": 1}})
        assert ei.value.code == 14

    def test_replace(self, coll: Any) -> None:
        coll.insert_many([dict(d) for d in SCORES])
        before = coll.find_one_and_replace({"points": {"$lt": 20}}, {"team": "Fearful Mallards", "score": 25000}, sort=[("points", 1)])
        assert before["_id"] == 3021
        assert doc(coll, 3021) == {"_id": 3021, "team": "Fearful Mallards", "score": 25000}

    def test_replace_return_after_and_upsert(self, coll: Any) -> None:
        after = coll.find_one_and_replace({"_id": 9, "x": 1}, {"y": 1}, upsert=True, return_document=ReturnDocument.AFTER)
        assert after == {"_id": 9, "y": 1}
        with pytest.raises(ValueError):
            coll.find_one_and_replace({"_id": 9}, {"$set": {"y": 2}})

    def test_replace_changing_id_is_an_error(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": 1})
        with pytest.raises(OperationFailure) as ei:
            coll.find_one_and_replace({"_id": 1}, {"_id": 2})
        assert ei.value.code == 66

    def test_delete_with_sort_and_projection(self, coll: Any) -> None:
        coll.insert_many([dict(d) for d in SCORES])
        deleted = coll.find_one_and_delete({"name": "A. MacDyver"}, sort=[("points", 1)], projection={"assignment": 1})
        assert deleted == {"_id": 2491, "assignment": 2}
        assert coll.count_documents({}) == 3
        assert coll.find_one_and_delete({"name": "nobody"}) is None


# ---------------------------------------------------------------------------------------------
# insert_one / insert_many  (https://www.mongodb.com/docs/manual/reference/method/db.collection.insertMany/)
# ---------------------------------------------------------------------------------------------


class TestInsert:
    def test_insert_one_result_and_generated_id(self, coll: Any) -> None:
        d: Dict[str, Any] = {"item": "canvas"}
        res = coll.insert_one(d)
        assert res.acknowledged is True
        assert isinstance(res.inserted_id, ObjectId)
        assert d["_id"] == res.inserted_id
        # "The _id field is always the first field in the document." (Documents > Field Order);
        # pymongo appends _id to the dict, so the server moves it first.
        assert list(doc(coll, res.inserted_id)) == ["_id", "item"]

    def test_duplicate_id_error_shape(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(DuplicateKeyError) as ei:
            coll.insert_one({"_id": 1, "x": 2})
        err = ei.value
        assert err.code == 11000
        assert err.details["errmsg"] == "E11000 duplicate key error collection: conf.upd index: _id_ dup key: { _id: 1 }"
        assert err.details["keyPattern"] == {"_id": 1}
        assert err.details["keyValue"] == {"_id": 1}
        assert isinstance(err, WriteError) and isinstance(err, OperationFailure)

    def test_id_cannot_be_array_or_regex(self, coll: Any) -> None:
        # "_id ... may be of any type other than an array, regex, or undefined."
        import re

        for bad in ([1, 2], re.compile("^a")):
            with pytest.raises(WriteError) as ei:
                coll.insert_one({"_id": bad})
            assert ei.value.code == 53  # InvalidIdField
        with pytest.raises(WriteError) as ei:
            coll.update_one({"x": 1}, {"$set": {"_id": [1]}}, upsert=True)
        assert ei.value.code == 53
        assert coll.count_documents({}) == 0

    def test_insert_many_result(self, coll: Any) -> None:
        res = coll.insert_many([{"_id": 10}, {"x": 1}])
        assert res.acknowledged is True
        assert res.inserted_ids[0] == 10
        assert isinstance(res.inserted_ids[1], ObjectId)
        assert coll.count_documents({}) == 2
        with pytest.raises(TypeError):
            coll.insert_many([])

    def test_insert_many_ordered_stops_at_first_error(self, coll: Any) -> None:
        with pytest.raises(BulkWriteError) as ei:
            coll.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 1}, {"_id": 3}])
        details = ei.value.details
        assert details["nInserted"] == 2
        assert len(details["writeErrors"]) == 1
        we = details["writeErrors"][0]
        assert (we["index"], we["code"]) == (2, 11000)
        assert we["op"] == {"_id": 1}
        assert [d["_id"] for d in all_docs(coll)] == [1, 2]
        assert ei.value.code == 65  # pymongo: BulkWriteError code is 65 (multiple errors occurred)

    def test_insert_many_unordered_continues(self, coll: Any) -> None:
        with pytest.raises(BulkWriteError) as ei:
            coll.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}, {"_id": 2}, {"_id": 3}], ordered=False)
        details = ei.value.details
        assert details["nInserted"] == 3
        assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000), (3, 11000)]
        assert [d["_id"] for d in all_docs(coll)] == [1, 2, 3]


# ---------------------------------------------------------------------------------------------
# bulk_write  (https://www.mongodb.com/docs/manual/reference/method/db.collection.bulkWrite/;
# pymongo BulkWriteResult / BulkWriteError)
# ---------------------------------------------------------------------------------------------


class TestBulkWrite:
    def test_mixed_operations_result(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2}, {"_id": 3, "a": 3}])
        res = coll.bulk_write(
            [
                InsertOne({"_id": 4, "a": 4}),
                UpdateOne({"_id": 1}, {"$set": {"a": 10}}),
                UpdateMany({"a": {"$gte": 2}}, {"$set": {"b": True}}),
                ReplaceOne({"_id": 2}, {"a": 20}),
                UpdateOne({"_id": 9}, {"$set": {"a": 9}}, upsert=True),
                DeleteOne({"_id": 3}),
                DeleteMany({"a": {"$gt": 100}}),
            ]
        )
        assert res.acknowledged is True
        assert res.inserted_count == 1
        assert res.matched_count == 1 + 4 + 1
        assert res.modified_count == 1 + 4 + 1
        assert res.upserted_count == 1
        assert res.upserted_ids == {4: 9}
        assert res.deleted_count == 1
        assert [d["_id"] for d in all_docs(coll)] == [1, 2, 4, 9]
        assert doc(coll, 2) == {"_id": 2, "a": 20}

    def test_ordered_stops_at_duplicate(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(BulkWriteError) as ei:
            coll.bulk_write(
                [
                    InsertOne({"_id": 2}),
                    InsertOne({"_id": 1}),
                    InsertOne({"_id": 3}),
                    UpdateOne({"_id": 2}, {"$set": {"x": 1}}),
                ]
            )
        details = ei.value.details
        assert details["nInserted"] == 1
        assert details["nMatched"] == 0 and details["nModified"] == 0
        assert len(details["writeErrors"]) == 1
        we = details["writeErrors"][0]
        assert (we["index"], we["code"]) == (1, 11000)
        assert "E11000 duplicate key error" in we["errmsg"]
        assert we["op"]["_id"] == 1
        assert details["writeConcernErrors"] == []
        assert [d["_id"] for d in all_docs(coll)] == [1, 2]

    def test_unordered_runs_everything(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(BulkWriteError) as ei:
            coll.bulk_write(
                [
                    InsertOne({"_id": 2}),
                    InsertOne({"_id": 1}),
                    UpdateOne({"_id": 2}, {"$set": {"x": 1}}),
                    InsertOne({"_id": 3}),
                    DeleteOne({"_id": 1}),
                ],
                ordered=False,
            )
        details = ei.value.details
        assert details["nInserted"] == 2
        assert (details["nMatched"], details["nModified"], details["nRemoved"]) == (1, 1, 1)
        assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000)]
        assert all_docs(coll) == [{"_id": 2, "x": 1}, {"_id": 3}]

    def test_ordered_update_error_index(self, coll: Any) -> None:
        coll.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": "s"}])
        with pytest.raises(BulkWriteError) as ei:
            coll.bulk_write(
                [
                    UpdateOne({"_id": 1}, {"$inc": {"n": 1}}),
                    UpdateOne({"_id": 2}, {"$inc": {"n": 1}}),
                    UpdateOne({"_id": 1}, {"$inc": {"n": 1}}),
                ]
            )
        details = ei.value.details
        assert (details["nMatched"], details["nModified"]) == (1, 1)
        assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 14)]
        assert doc(coll, 1)["n"] == 2

    def test_error_details_keep_earlier_upserts(self, coll: Any) -> None:
        coll.insert_one({"_id": 1})
        with pytest.raises(BulkWriteError) as ei:
            coll.bulk_write(
                [
                    UpdateOne({"_id": 5}, {"$set": {"a": 1}}, upsert=True),
                    UpdateOne({"_id": 1}, {"$set": {"a": 1}}),
                    InsertOne({"_id": 1}),
                    DeleteOne({"_id": 5}),
                ]
            )
        details = ei.value.details
        assert (details["nUpserted"], details["nMatched"], details["nModified"], details["nInserted"], details["nRemoved"]) == (1, 1, 1, 0, 0)
        assert details["upserted"] == [{"index": 0, "_id": 5}]
        assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(2, 11000)]
        assert [d["_id"] for d in all_docs(coll)] == [1, 5]

    def test_bulk_update_with_array_filters_and_upserts(self, coll: Any) -> None:
        coll.insert_one({"_id": 1, "a": [1, 2, 3]})
        res = coll.bulk_write(
            [
                UpdateOne({"_id": 1}, {"$set": {"a.$[x]": 0}}, array_filters=[{"x": {"$gte": 2}}]),
                UpdateMany({"k": 1}, {"$set": {"v": 1}}, upsert=True),
                ReplaceOne({"_id": 50}, {"r": 1}, upsert=True),
            ]
        )
        assert doc(coll, 1)["a"] == [1, 0, 0]
        assert res.upserted_count == 2
        assert res.upserted_ids[2] == 50
        assert set(res.upserted_ids) == {1, 2}
        assert doc(coll, 50) == {"_id": 50, "r": 1}


# ---------------------------------------------------------------------------------------------
# delete results  (pymongo DeleteResult)
# ---------------------------------------------------------------------------------------------


class TestDelete:
    def test_delete_one_and_many_counts(self, coll: Any) -> None:
        coll.insert_many([{"_id": i, "k": i % 2} for i in range(6)])
        res = coll.delete_one({"k": 0})
        assert (res.acknowledged, res.deleted_count) == (True, 1)
        assert res.raw_result == {"n": 1, "ok": 1.0}
        res = coll.delete_many({"k": 1})
        assert res.deleted_count == 3
        assert coll.delete_many({"k": 99}).deleted_count == 0
        assert coll.count_documents({}) == 2

//! Tests of the grouping, joining and reshaping stages: the MongoDB manual's documented
//! examples (data and results as the manual gives them) and the users' guide's pipelines on
//! small fixtures with hand-computed results.

use std::collections::HashMap;

use bson::{bson, doc, Bson, Document};

use super::super::value::as_f64;
use super::*;

fn vars() -> Variables {
    Variables::new(bson::DateTime::from_millis(0))
}

fn parse(stages: Bson) -> Result<Pipeline, DocError> {
    let Bson::Array(stages) = stages else { panic!("stages must be an array") };
    Pipeline::parse(&stages, &vars())
}

fn run(stages: Bson, docs: Vec<Document>) -> Result<Vec<Document>, DocError> {
    parse(stages)?.run(Box::new(docs.into_iter()))
}

fn parse_err(stages: Bson) -> DocError {
    parse(stages).unwrap_err()
}

/// Foreign collections for tests; counts fetches.
struct Colls {
    colls: HashMap<String, Vec<Document>>,
    fetches: RefCell<Vec<String>>,
}

impl Colls {
    fn new(colls: &[(&str, Vec<Document>)]) -> Colls {
        Colls { colls: colls.iter().map(|(n, d)| (n.to_string(), d.clone())).collect(), fetches: RefCell::new(Vec::new()) }
    }
}

impl Foreign for Colls {
    fn documents(&self, collection: &str) -> Result<Vec<Document>, DocError> {
        self.fetches.borrow_mut().push(collection.to_string());
        Ok(self.colls.get(collection).cloned().unwrap_or_default())
    }
}

fn run_with(stages: Bson, docs: Vec<Document>, foreign: &Colls) -> Result<Vec<Document>, DocError> {
    parse(stages)?.run_with(Box::new(docs.into_iter()), foreign)
}

fn dec(s: &str) -> Bson {
    Bson::Decimal128(s.parse().unwrap())
}

fn date(s: &str) -> Bson {
    Bson::DateTime(bson::DateTime::parse_rfc3339_str(s).unwrap())
}

fn num(d: &Document, k: &str) -> f64 {
    as_f64(d.get(k).unwrap_or_else(|| panic!("no {k} in {d}"))).unwrap_or_else(|| panic!("{k} not a number in {d}"))
}

fn by_id(docs: &[Document], id: Bson) -> &Document {
    docs.iter().find(|d| d.get("_id") == Some(&id)).unwrap_or_else(|| panic!("no _id {id} in {docs:?}"))
}

fn ids(docs: &[Document]) -> Vec<Bson> {
    docs.iter().map(|d| d.get("_id").cloned().unwrap_or(Bson::Null)).collect()
}

// --- $group ------------------------------------------------------------------------------------

/// The manual's `sales` collection ($group page).
fn sales() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "item": "abc", "price": dec("10"), "quantity": 2, "date": date("2014-03-01T08:00:00Z")},
        doc! {"_id": 2, "item": "jkl", "price": dec("20"), "quantity": 1, "date": date("2014-03-01T09:00:00Z")},
        doc! {"_id": 3, "item": "xyz", "price": dec("5"), "quantity": 10, "date": date("2014-03-15T09:00:00Z")},
        doc! {"_id": 4, "item": "xyz", "price": dec("5"), "quantity": 20, "date": date("2014-04-04T11:21:39.736Z")},
        doc! {"_id": 5, "item": "abc", "price": dec("10"), "quantity": 10, "date": date("2014-04-04T21:23:13.331Z")},
        doc! {"_id": 6, "item": "def", "price": dec("7.5"), "quantity": 5, "date": date("2015-06-04T05:08:13Z")},
        doc! {"_id": 7, "item": "def", "price": dec("7.5"), "quantity": 10, "date": date("2015-09-10T08:43:00Z")},
        doc! {"_id": 8, "item": "abc", "price": dec("10"), "quantity": 5, "date": date("2016-02-06T20:20:13Z")},
    ]
}

#[test]
fn group_from_the_manual() {
    // Count the number of documents.
    let out = run(bson!([{"$group": {"_id": null, "count": {"$count": {}}}}]), sales()).unwrap();
    assert_eq!(out, vec![doc! {"_id": null, "count": 8}]);
    // Distinct values (first-seen order).
    let out = run(bson!([{"$group": {"_id": "$item"}}]), sales()).unwrap();
    assert_eq!(out, vec![doc! {"_id": "abc"}, doc! {"_id": "jkl"}, doc! {"_id": "xyz"}, doc! {"_id": "def"}]);
    // Group by item having totalSaleAmount >= 100.
    let out = run(
        bson!([
            {"$group": {"_id": "$item", "totalSaleAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}}}},
            {"$match": {"totalSaleAmount": {"$gte": 100}}}
        ]),
        sales(),
    )
    .unwrap();
    assert_eq!(ids(&out), vec![Bson::from("abc"), Bson::from("xyz"), Bson::from("def")]);
    assert_eq!(num(by_id(&out, "abc".into()), "totalSaleAmount"), 170.0);
    assert_eq!(num(by_id(&out, "xyz".into()), "totalSaleAmount"), 150.0);
    assert_eq!(num(by_id(&out, "def".into()), "totalSaleAmount"), 112.5);
    assert!(matches!(by_id(&out, "def".into()).get("totalSaleAmount"), Some(Bson::Decimal128(_))));
    // Group by day of the year, 2014 only, sorted by total.
    let out = run(
        bson!([
            {"$match": {"date": {"$gte": date("2014-01-01T00:00:00Z"), "$lt": date("2015-01-01T00:00:00Z")}}},
            {"$group": {
                "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$date"}},
                "totalSaleAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}},
                "averageQuantity": {"$avg": "$quantity"},
                "count": {"$sum": 1}
            }},
            {"$sort": {"totalSaleAmount": -1}}
        ]),
        sales(),
    )
    .unwrap();
    assert_eq!(ids(&out), vec![Bson::from("2014-04-04"), Bson::from("2014-03-15"), Bson::from("2014-03-01")]);
    assert_eq!(
        (num(&out[0], "totalSaleAmount"), out[0].get("averageQuantity"), out[0].get("count")),
        (200.0, Some(&Bson::Double(15.0)), Some(&Bson::Int32(2)))
    );
    assert_eq!((num(&out[1], "totalSaleAmount"), out[1].get("averageQuantity")), (50.0, Some(&Bson::Double(10.0))));
    assert_eq!((num(&out[2], "totalSaleAmount"), out[2].get("averageQuantity")), (40.0, Some(&Bson::Double(1.5))));
    // Group by null: totals over everything.
    let out = run(
        bson!([{"$group": {"_id": null, "totalSaleAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}},
            "averageQuantity": {"$avg": "$quantity"}, "count": {"$sum": 1}}}]),
        sales(),
    )
    .unwrap();
    assert_eq!(num(&out[0], "totalSaleAmount"), 452.5);
    assert_eq!(out[0].get("averageQuantity"), Some(&Bson::Double(7.875)));
    assert_eq!(out[0].get("count"), Some(&Bson::Int32(8)));
}

#[test]
fn group_pivot_from_the_manual() {
    let books = vec![
        doc! {"_id": 8751, "title": "The Banquet", "author": "Dante", "copies": 2},
        doc! {"_id": 8752, "title": "Divine Comedy", "author": "Dante", "copies": 1},
        doc! {"_id": 8645, "title": "Eclogues", "author": "Dante", "copies": 2},
        doc! {"_id": 7000, "title": "The Odyssey", "author": "Homer", "copies": 10},
        doc! {"_id": 7020, "title": "Iliad", "author": "Homer", "copies": 10},
    ];
    let out = run(bson!([{"$group": {"_id": "$author", "books": {"$push": "$title"}}}]), books.clone()).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": "Dante", "books": ["The Banquet", "Divine Comedy", "Eclogues"]},
            doc! {"_id": "Homer", "books": ["The Odyssey", "Iliad"]},
        ]
    );
    let out = run(
        bson!([{"$group": {"_id": "$author", "books": {"$push": "$$ROOT"}}}, {"$addFields": {"totalCopies": {"$sum": "$books.copies"}}}]),
        books.clone(),
    )
    .unwrap();
    assert_eq!(out[0].get("totalCopies"), Some(&Bson::Int32(5)));
    assert_eq!(out[1].get("totalCopies"), Some(&Bson::Int32(20)));
    assert_eq!(out[1].get_array("books").unwrap()[0], Bson::Document(books[3].clone()));
}

#[test]
fn group_keys_compare_by_value() {
    let docs = vec![
        doc! {"k": 1},
        doc! {"k": 1.0},
        doc! {"k": 1_i64},
        doc! {"k": null},
        doc! {},
        doc! {"k": {"a": 1, "b": 2}},
        doc! {"k": {"b": 2, "a": 1}},
    ];
    let out = run(bson!([{"$group": {"_id": "$k", "n": {"$sum": 1}}}]), docs).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "n": 3},
            doc! {"_id": null, "n": 2},
            doc! {"_id": {"a": 1, "b": 2}, "n": 1},
            doc! {"_id": {"b": 2, "a": 1}, "n": 1}
        ]
    );
    // Document _id of expressions; missing parts are omitted from the key.
    let out =
        run(bson!([{"$group": {"_id": {"x": "$x", "y": "$y"}, "n": {"$sum": 1}}}]), vec![doc! {"x": 1}, doc! {"x": 1, "y": null}]).unwrap();
    assert_eq!(out, vec![doc! {"_id": {"x": 1}, "n": 1}, doc! {"_id": {"x": 1, "y": null}, "n": 1}]);
    // No input, no groups (even for _id: null).
    assert!(run(bson!([{"$group": {"_id": null, "n": {"$sum": 1}}}]), vec![]).unwrap().is_empty());
}

#[test]
fn accumulator_semantics() {
    let docs = vec![
        doc! {"g": 1, "v": 5, "s": "x"},
        doc! {"g": 1, "v": null, "s": "y"},
        doc! {"g": 1, "s": "x"},
        doc! {"g": 1, "v": "str", "s": [1, 2]},
        doc! {"g": 1, "v": [100, 200]},
        doc! {"g": 1, "v": 2.5},
    ];
    let out = run(
        bson!([{"$group": {"_id": "$g",
            "sum": {"$sum": "$v"}, "avg": {"$avg": "$v"}, "min": {"$min": "$v"}, "max": {"$max": "$v"},
            "first": {"$first": "$v"}, "last": {"$last": "$v"}, "push": {"$push": "$v"}, "set": {"$addToSet": "$s"},
            "count": {"$count": {}}, "none": {"$avg": "$nope"}, "nosum": {"$sum": "$nope"}, "nomax": {"$max": "$nope"},
            "firstMissing": {"$first": "$nope"}}}]),
        docs,
    )
    .unwrap();
    assert_eq!(
        out[0],
        doc! {"_id": 1, "sum": 7.5, "avg": 3.75, "min": 2.5, "max": [100, 200], "first": 5, "last": 2.5,
        "push": [5, null, "str", [100, 200], 2.5], "set": ["x", "y", [1, 2]], "count": 6, "none": null, "nosum": 0, "nomax": null,
        "firstMissing": null}
    );
    // Integer sums promote to long, then stay exact.
    let out = run(bson!([{"$group": {"_id": null, "s": {"$sum": "$v"}}}]), vec![doc! {"v": i32::MAX}, doc! {"v": 1}]).unwrap();
    assert_eq!(out[0].get("s"), Some(&Bson::Int64(i64::from(i32::MAX) + 1)));
    let out =
        run(bson!([{"$group": {"_id": null, "s": {"$sum": "$v"}, "a": {"$avg": "$v"}}}]), vec![doc! {"v": dec("1.5")}, doc! {"v": 1}])
            .unwrap();
    assert_eq!(as_f64(out[0].get("s").unwrap()), Some(2.5));
    assert!(matches!(out[0].get("a"), Some(Bson::Decimal128(_))));
}

#[test]
fn merge_objects_and_std_dev_from_the_manual() {
    let sales = vec![
        doc! {"_id": 1, "year": 2017, "item": "A", "quantity": {"2017Q1": 500, "2017Q2": 500}},
        doc! {"_id": 2, "year": 2016, "item": "A", "quantity": {"2016Q1": 400, "2016Q2": 300, "2016Q3": 0, "2016Q4": 0}},
        doc! {"_id": 3, "year": 2017, "item": "B", "quantity": {"2017Q1": 300}},
        doc! {"_id": 4, "year": 2016, "item": "B", "quantity": {"2016Q3": 100, "2016Q4": 250}},
    ];
    let out = run(bson!([{"$group": {"_id": "$item", "mergedSales": {"$mergeObjects": "$quantity"}}}]), sales).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": "A", "mergedSales": {"2017Q1": 500, "2017Q2": 500, "2016Q1": 400, "2016Q2": 300, "2016Q3": 0, "2016Q4": 0}},
            doc! {"_id": "B", "mergedSales": {"2017Q1": 300, "2016Q3": 100, "2016Q4": 250}},
        ]
    );
    let e = run(bson!([{"$group": {"_id": null, "m": {"$mergeObjects": "$x"}}}]), vec![doc! {"x": 1}]).unwrap_err();
    assert_eq!(e.code, 40400);

    let users = vec![
        doc! {"_id": 1, "name": "dave123", "quiz": 1, "score": 85},
        doc! {"_id": 2, "name": "dave2", "quiz": 1, "score": 90},
        doc! {"_id": 3, "name": "ahn", "quiz": 1, "score": 71},
        doc! {"_id": 4, "name": "li", "quiz": 2, "score": 96},
        doc! {"_id": 5, "name": "annT", "quiz": 2, "score": 77},
        doc! {"_id": 6, "name": "ty", "quiz": 2, "score": 82},
    ];
    let out =
        run(bson!([{"$group": {"_id": "$quiz", "stdDev": {"$stdDevPop": "$score"}, "samp": {"$stdDevSamp": "$score"}}}]), users).unwrap();
    for d in &out {
        assert!((num(d, "stdDev") - 8.04155872120988).abs() < 1e-12, "{d}");
    }
    // Sample of 85, 90, 71: sqrt(194 / 2).
    assert!((num(&out[0], "samp") - 97f64.sqrt()).abs() < 1e-12);
    let out = run(bson!([{"$group": {"_id": null, "p": {"$stdDevPop": "$x"}, "s": {"$stdDevSamp": "$x"}}}]), vec![doc! {"x": 3}]).unwrap();
    assert_eq!(out[0], doc! {"_id": null, "p": 0.0, "s": null});
}

/// The manual's `gamescores` ($top, $topN, $bottom, $firstN, $maxN... pages).
fn game_scores() -> Vec<Document> {
    vec![
        doc! {"playerId": "PlayerA", "gameId": "G1", "score": 31},
        doc! {"playerId": "PlayerB", "gameId": "G1", "score": 33},
        doc! {"playerId": "PlayerC", "gameId": "G1", "score": 99},
        doc! {"playerId": "PlayerD", "gameId": "G1", "score": 1},
        doc! {"playerId": "PlayerA", "gameId": "G2", "score": 10},
        doc! {"playerId": "PlayerB", "gameId": "G2", "score": 14},
        doc! {"playerId": "PlayerC", "gameId": "G2", "score": 66},
        doc! {"playerId": "PlayerD", "gameId": "G2", "score": 80},
    ]
}

#[test]
fn top_bottom_and_n_accumulators_from_the_manual() {
    let out = run(
        bson!([{"$match": {"gameId": "G1"}}, {"$group": {"_id": "$gameId",
            "playerId": {"$top": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}}}}}]),
        game_scores(),
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"_id": "G1", "playerId": ["PlayerC", 99]}]);
    let out = run(
        bson!([{"$match": {"gameId": "G1"}}, {"$group": {"_id": "$gameId",
            "playerId": {"$bottom": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}}}}}]),
        game_scores(),
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"_id": "G1", "playerId": ["PlayerD", 1]}]);
    let out = run(
        bson!([{"$group": {"_id": "$gameId",
            "playerId": {"$topN": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}, "n": 3}}}}]),
        game_scores(),
    )
    .unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": "G1", "playerId": [["PlayerC", 99], ["PlayerB", 33], ["PlayerA", 31]]},
            doc! {"_id": "G2", "playerId": [["PlayerD", 80], ["PlayerC", 66], ["PlayerB", 14]]},
        ]
    );
    let out = run(
        bson!([{"$group": {"_id": "$gameId",
            "playerId": {"$bottomN": {"output": ["$playerId", "$score"], "sortBy": {"score": -1}, "n": 3}}}}]),
        game_scores(),
    )
    .unwrap();
    assert_eq!(out[0], doc! {"_id": "G1", "playerId": [["PlayerB", 33], ["PlayerA", 31], ["PlayerD", 1]]});
    // n computed from the group key: 1 for G2, 3 otherwise (the manual's $cond example).
    let out = run(
        bson!([{"$group": {"_id": {"gameId": "$gameId"},
            "gamescores": {"$topN": {"output": "$score", "sortBy": {"score": -1},
                "n": {"$cond": {"if": {"$eq": ["$gameId", "G2"]}, "then": 1, "else": 3}}}}}}]),
        game_scores(),
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"_id": {"gameId": "G1"}, "gamescores": [99, 33, 31]}, doc! {"_id": {"gameId": "G2"}, "gamescores": [80]}]);
    let out = run(
        bson!([{"$match": {"gameId": "G1"}}, {"$group": {"_id": "$gameId",
            "firstThree": {"$firstN": {"input": ["$playerId", "$score"], "n": 3}},
            "lastThree": {"$lastN": {"input": ["$playerId", "$score"], "n": 3}},
            "maxThree": {"$maxN": {"input": ["$score", "$playerId"], "n": 3}},
            "minThree": {"$minN": {"input": ["$score", "$playerId"], "n": 3}}}}]),
        game_scores(),
    )
    .unwrap();
    assert_eq!(
        out[0],
        doc! {"_id": "G1",
        "firstThree": [["PlayerA", 31], ["PlayerB", 33], ["PlayerC", 99]],
        "lastThree": [["PlayerB", 33], ["PlayerC", 99], ["PlayerD", 1]],
        "maxThree": [[99, "PlayerC"], [33, "PlayerB"], [31, "PlayerA"]],
        "minThree": [[1, "PlayerD"], [31, "PlayerA"], [33, "PlayerB"]]}
    );
    // $maxN/$minN skip null and missing; $firstN keeps them as null.
    let out = run(
        bson!([{"$group": {"_id": null, "mx": {"$maxN": {"input": "$v", "n": 2}}, "f": {"$firstN": {"input": "$v", "n": 2}}}}]),
        vec![doc! {}, doc! {"v": null}, doc! {"v": 3}],
    )
    .unwrap();
    assert_eq!(out[0], doc! {"_id": null, "mx": [3], "f": [null, null]});
    assert_eq!(parse_err(bson!([{"$group": {"_id": null, "x": {"$firstN": {"input": "$v", "n": 0}}}}])).code, 5787908);
    assert_eq!(parse_err(bson!([{"$group": {"_id": null, "x": {"$firstN": {"input": "$v"}}}}])).code, 5787906);
    assert_eq!(parse_err(bson!([{"$group": {"_id": null, "x": {"$top": {"output": "$v"}}}}])).code, 5787906);
}

#[test]
fn group_errors() {
    let e = parse_err(bson!([{"$group": {"n": {"$sum": 1}}}]));
    assert_eq!((e.code, e.message.as_str()), (15955, "a group specification must include an _id"));
    let e = parse_err(bson!([{"$group": {"_id": null, "a.b": {"$sum": 1}}}]));
    assert_eq!((e.code, e.message.as_str()), (40235, "The field name 'a.b' cannot contain '.'"));
    let e = parse_err(bson!([{"$group": {"_id": null, "n": {"$foo": 1}}}]));
    assert_eq!((e.code, e.message.as_str()), (15952, "unknown group operator '$foo'"));
    let e = parse_err(bson!([{"$group": {"_id": null, "n": {"$sum": 1, "$max": 1}}}]));
    assert_eq!((e.code, e.message.as_str()), (40238, "The field 'n' must specify one accumulator"));
    let e = parse_err(bson!([{"$group": {"_id": null, "n": 1}}]));
    assert_eq!((e.code, e.message.as_str()), (40234, "The field 'n' must be an accumulator object"));
    assert_eq!(parse_err(bson!([{"$group": {"_id": null, "$n": {"$sum": 1}}}])).code, 40236);
    assert_eq!(parse_err(bson!([{"$group": 1}])).code, 15947);
    assert_eq!(parse_err(bson!([{"$group": {"_id": null, "n": {"$count": 1}}}])).code, 2);
    assert_eq!(parse_err(bson!([{"$group": {"_id": null, "n": {"$sum": ["$a", "$b"]}}}])).code, 40237);
    assert_eq!(parse_err(bson!([{"$group": {"_id": {"$foo": 1}}}])).code, 168);
}

// --- $unwind -----------------------------------------------------------------------------------

#[test]
fn unwind_from_the_manual() {
    let out = run(bson!([{"$unwind": "$sizes"}]), vec![doc! {"_id": 1, "item": "ABC1", "sizes": ["S", "M", "L"]}]).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "item": "ABC1", "sizes": "S"},
            doc! {"_id": 1, "item": "ABC1", "sizes": "M"},
            doc! {"_id": 1, "item": "ABC1", "sizes": "L"},
        ]
    );
    let clothing = vec![
        doc! {"_id": 1, "item": "Shirt", "sizes": ["S", "M", "L"]},
        doc! {"_id": 2, "item": "Shorts", "sizes": []},
        doc! {"_id": 3, "item": "Hat", "sizes": "M"},
        doc! {"_id": 4, "item": "Gloves"},
        doc! {"_id": 5, "item": "Scarf", "sizes": null},
    ];
    let out = run(bson!([{"$unwind": "$sizes"}]), clothing.clone()).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "item": "Shirt", "sizes": "S"},
            doc! {"_id": 1, "item": "Shirt", "sizes": "M"},
            doc! {"_id": 1, "item": "Shirt", "sizes": "L"},
            doc! {"_id": 3, "item": "Hat", "sizes": "M"},
        ]
    );
    let out = run(bson!([{"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": true}}]), clothing.clone()).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "item": "Shirt", "sizes": "S"},
            doc! {"_id": 1, "item": "Shirt", "sizes": "M"},
            doc! {"_id": 1, "item": "Shirt", "sizes": "L"},
            doc! {"_id": 2, "item": "Shorts"},
            doc! {"_id": 3, "item": "Hat", "sizes": "M"},
            doc! {"_id": 4, "item": "Gloves"},
            doc! {"_id": 5, "item": "Scarf", "sizes": null},
        ]
    );
    let out = run(bson!([{"$unwind": {"path": "$sizes", "includeArrayIndex": "arrayIndex"}}]), clothing.clone()).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "item": "Shirt", "sizes": "S", "arrayIndex": 0_i64},
            doc! {"_id": 1, "item": "Shirt", "sizes": "M", "arrayIndex": 1_i64},
            doc! {"_id": 1, "item": "Shirt", "sizes": "L", "arrayIndex": 2_i64},
            doc! {"_id": 3, "item": "Hat", "sizes": "M", "arrayIndex": null},
        ]
    );
    // Embedded path; the manual's group-by-unwound-values example.
    let out = run(
        bson!([{"$unwind": "$a.b"}, {"$group": {"_id": "$a.b", "n": {"$sum": 1}}}]),
        vec![doc! {"a": {"b": [1, 2, 2]}}, doc! {"a": {"b": 2}}, doc! {"a": [{"b": [1]}]}],
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"_id": 1, "n": 1}, doc! {"_id": 2, "n": 3}]);
}

#[test]
fn unwind_errors() {
    let e = parse_err(bson!([{"$unwind": "sizes"}]));
    assert_eq!((e.code, e.message.as_str()), (28818, "path option to $unwind stage should be prefixed with a '$': sizes"));
    assert_eq!(parse_err(bson!([{"$unwind": {"path": "sizes"}}])).code, 28818);
    assert_eq!(parse_err(bson!([{"$unwind": {}}])).code, 28812);
    assert_eq!(parse_err(bson!([{"$unwind": 1}])).code, 15981);
    assert_eq!(parse_err(bson!([{"$unwind": {"path": "$a", "x": 1}}])).code, 28811);
    assert_eq!(parse_err(bson!([{"$unwind": {"path": "$a", "preserveNullAndEmptyArrays": 1}}])).code, 28809);
    assert_eq!(parse_err(bson!([{"$unwind": {"path": "$a", "includeArrayIndex": "$i"}}])).code, 28822);
    assert_eq!(parse_err(bson!([{"$unwind": {"path": 1}}])).code, 28808);
}

// --- $lookup, $unionWith -----------------------------------------------------------------------

#[test]
fn lookup_equality_from_the_manual() {
    let orders = vec![
        doc! {"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
        doc! {"_id": 2, "item": "pecans", "price": 20, "quantity": 1},
        doc! {"_id": 3},
    ];
    let inventory = vec![
        doc! {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
        doc! {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
        doc! {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
        doc! {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
        doc! {"_id": 5, "sku": null, "description": "Incomplete"},
        doc! {"_id": 6},
    ];
    let colls = Colls::new(&[("inventory", inventory.clone())]);
    let out = run_with(
        bson!([{"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inventory_docs"}}]),
        orders,
        &colls,
    )
    .unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "item": "almonds", "price": 12, "quantity": 2, "inventory_docs": [inventory[0].clone()]},
            doc! {"_id": 2, "item": "pecans", "price": 20, "quantity": 1, "inventory_docs": [inventory[3].clone()]},
            doc! {"_id": 3, "inventory_docs": [inventory[4].clone(), inventory[5].clone()]},
        ]
    );
    assert_eq!(*colls.fetches.borrow(), vec!["inventory".to_string()]);

    // An array localField matches any element.
    let classes = vec![
        doc! {"_id": 1, "title": "Reading is ...", "enrollmentlist": ["giraffe2", "pandabear", "artie"], "days": ["M", "W", "F"]},
        doc! {"_id": 2, "title": "But Writing ...", "enrollmentlist": ["giraffe1", "artie"], "days": ["T", "F"]},
    ];
    let members: Vec<Document> = ["artie", "giraffe", "giraffe1", "panda", "pandabear", "giraffe2"]
        .iter()
        .enumerate()
        .map(|(i, n)| doc! {"_id": i as i32 + 1, "name": *n, "status": "A"})
        .collect();
    let colls = Colls::new(&[("members", members)]);
    let out = run_with(
        bson!([{"$lookup": {"from": "members", "localField": "enrollmentlist", "foreignField": "name", "as": "enrollee_info"}}]),
        classes,
        &colls,
    )
    .unwrap();
    let joined = |d: &Document| {
        d.get_array("enrollee_info").unwrap().iter().map(|m| m.as_document().unwrap().get_i32("_id").unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(joined(&out[0]), vec![1, 5, 6]);
    assert_eq!(joined(&out[1]), vec![1, 3]);

    // A foreign array field matches by element; `as` can be dotted.
    let colls = Colls::new(&[("f", vec![doc! {"_id": 1, "tags": ["a", "b"]}, doc! {"_id": 2, "tags": "c"}])]);
    let out = run_with(
        bson!([{"$lookup": {"from": "f", "localField": "t", "foreignField": "tags", "as": "x.y"}}]),
        vec![doc! {"t": "b"}],
        &colls,
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"t": "b", "x": {"y": [{"_id": 1, "tags": ["a", "b"]}]}}]);
}

#[test]
fn lookup_pipelines_from_the_manual() {
    let orders = vec![
        doc! {"_id": 1, "item": "almonds", "price": 12, "ordered": 2},
        doc! {"_id": 2, "item": "pecans", "price": 20, "ordered": 1},
        doc! {"_id": 3, "item": "cookies", "price": 10, "ordered": 60},
    ];
    let warehouses = vec![
        doc! {"_id": 1, "stock_item": "almonds", "warehouse": "A", "instock": 120},
        doc! {"_id": 2, "stock_item": "pecans", "warehouse": "A", "instock": 80},
        doc! {"_id": 3, "stock_item": "almonds", "warehouse": "B", "instock": 60},
        doc! {"_id": 4, "stock_item": "cookies", "warehouse": "B", "instock": 40},
        doc! {"_id": 5, "stock_item": "cookies", "warehouse": "A", "instock": 80},
    ];
    let colls = Colls::new(&[("warehouses", warehouses)]);
    let out = run_with(
        bson!([{"$lookup": {"from": "warehouses", "let": {"order_item": "$item", "order_qty": "$ordered"},
            "pipeline": [
                {"$match": {"$expr": {"$and": [{"$eq": ["$stock_item", "$$order_item"]}, {"$gte": ["$instock", "$$order_qty"]}]}}},
                {"$project": {"stock_item": 0, "_id": 0}}
            ],
            "as": "stockdata"}}]),
        orders,
        &colls,
    )
    .unwrap();
    let stock = |i: usize| out[i].get_array("stockdata").unwrap().clone();
    assert_eq!(stock(0), vec![bson!({"warehouse": "A", "instock": 120}), bson!({"warehouse": "B", "instock": 60})]);
    assert_eq!(stock(1), vec![bson!({"warehouse": "A", "instock": 80})]);
    assert_eq!(stock(2), vec![bson!({"warehouse": "A", "instock": 80})]);

    // Uncorrelated sub-pipeline (the manual's holidays example): run once.
    let absences = vec![doc! {"_id": 1, "student": "Ann Aardvark"}, doc! {"_id": 2, "student": "Zoe Zebra"}];
    let holidays = vec![
        doc! {"_id": 1, "year": 2018, "name": "New Years", "date": date("2018-01-01T00:00:00Z")},
        doc! {"_id": 2, "year": 2018, "name": "Pi Day", "date": date("2018-03-14T00:00:00Z")},
        doc! {"_id": 4, "year": 2017, "name": "New Years", "date": date("2017-01-01T00:00:00Z")},
    ];
    let colls = Colls::new(&[("holidays", holidays)]);
    let out = run_with(
        bson!([{"$lookup": {"from": "holidays", "pipeline": [
            {"$match": {"year": 2018}}, {"$project": {"_id": 0, "date": {"name": "$name", "date": "$date"}}},
            {"$replaceRoot": {"newRoot": "$date"}}], "as": "holidays"}}]),
        absences,
        &colls,
    )
    .unwrap();
    for d in &out {
        assert_eq!(
            d.get_array("holidays").unwrap(),
            &vec![
                bson!({"name": "New Years", "date": date("2018-01-01T00:00:00Z")}),
                bson!({"name": "Pi Day", "date": date("2018-03-14T00:00:00Z")})
            ]
        );
    }

    // Equality and pipeline combined (MongoDB 5.0+).
    let restaurants = vec![
        doc! {"_id": 1, "name": "American Steak House", "food": ["filet", "sirloin"], "beverages": ["beer", "wine"]},
        doc! {"_id": 2, "name": "Honest John Pizza", "food": ["cheese pizza", "pepperoni pizza"], "beverages": ["soda"]},
    ];
    let orders = vec![
        doc! {"_id": 1, "item": "filet", "restaurant_name": "American Steak House"},
        doc! {"_id": 2, "item": "cheese pizza", "restaurant_name": "Honest John Pizza", "drink": "lemonade"},
        doc! {"_id": 3, "item": "cheese pizza", "restaurant_name": "Honest John Pizza", "drink": "soda"},
    ];
    let colls = Colls::new(&[("restaurants", restaurants.clone())]);
    let out = run_with(
        bson!([{"$lookup": {"from": "restaurants", "localField": "restaurant_name", "foreignField": "name",
            "let": {"orders_drink": "$drink"},
            "pipeline": [{"$match": {"$expr": {"$in": ["$$orders_drink", "$beverages"]}}}], "as": "matches"}}]),
        orders,
        &colls,
    )
    .unwrap();
    assert_eq!(out[0].get_array("matches").unwrap().len(), 0);
    assert_eq!(out[1].get_array("matches").unwrap().len(), 0);
    assert_eq!(out[2].get_array("matches").unwrap(), &vec![Bson::Document(restaurants[1].clone())]);
}

#[test]
fn lookup_contract_and_errors() {
    let p = parse(bson!([
        {"$lookup": {"from": "a", "localField": "x", "foreignField": "y", "as": "z"}},
        {"$facet": {"f": [{"$lookup": {"from": "b", "pipeline": [{"$unionWith": {"coll": "c", "pipeline": [{"$lookup": {"from": "a", "pipeline": [], "as": "q"}}]}}], "as": "w"}}]}},
        {"$unionWith": "d"}
    ]))
    .unwrap();
    assert_eq!(p.foreign_collections(), vec!["a", "b", "c", "d"]);
    // run without Foreign: code 2 before reading anything.
    let e = p.run(Box::new(std::iter::empty())).unwrap_err();
    assert_eq!(e.code, 2);
    assert!(e.message.contains("run_with"), "{}", e.message);
    // Each collection fetched once per run, however many documents.
    let colls = Colls::new(&[("a", vec![doc! {"y": 1}])]);
    let out = run_with(
        bson!([{"$lookup": {"from": "a", "localField": "x", "foreignField": "y", "as": "z"}}, {"$lookup": {"from": "a", "localField": "x", "foreignField": "y", "as": "w"}}]),
        vec![doc! {"x": 1}, doc! {"x": 2}, doc! {"x": 1}],
        &colls,
    )
    .unwrap();
    assert_eq!(out[0], doc! {"x": 1, "z": [{"y": 1}], "w": [{"y": 1}]});
    assert_eq!(out[1], doc! {"x": 2, "z": [], "w": []});
    assert_eq!(colls.fetches.borrow().len(), 1);
    // A missing collection is empty.
    let out =
        run_with(bson!([{"$lookup": {"from": "nope", "localField": "x", "foreignField": "y", "as": "z"}}]), vec![doc! {"x": 1}], &colls)
            .unwrap();
    assert_eq!(out, vec![doc! {"x": 1, "z": []}]);

    assert_eq!(parse_err(bson!([{"$lookup": {"from": "a", "localField": "x", "foreignField": "y"}}])).code, 9);
    assert_eq!(parse_err(bson!([{"$lookup": {"from": "a", "localField": "x", "as": "y"}}])).code, 9);
    assert_eq!(parse_err(bson!([{"$lookup": {"from": "a", "as": "y"}}])).code, 9);
    assert_eq!(parse_err(bson!([{"$lookup": {"from": "a", "as": "y", "pipeline": [], "bogus": 1}}])).code, 9);
    assert_eq!(parse_err(bson!([{"$lookup": {"from": 1, "as": "y", "pipeline": []}}])).code, 4570);
    assert_eq!(parse_err(bson!([{"$lookup": 1}])).code, 40319);
    assert_eq!(parse_err(bson!([{"$lookup": {"from": "a", "as": "y", "pipeline": [{"$out": "x"}]}}])).code, 51047);
    assert_eq!(parse_err(bson!([{"$lookup": {"from": "a", "as": "y", "let": {"Bad": 1}, "pipeline": []}}])).code, 16867);
    // Undefined variables in a sub-pipeline fail when evaluated.
    let colls = Colls::new(&[("a", vec![doc! {"y": 1}])]);
    let e = run_with(bson!([{"$lookup": {"from": "a", "pipeline": [{"$match": {"$expr": "$$nope"}}], "as": "z"}}]), vec![doc! {}], &colls)
        .unwrap_err();
    assert_eq!(e.code, 17276);
    // Nesting is capped.
    let mut inner = bson!([]);
    for _ in 0..25 {
        inner = bson!([{"$lookup": {"from": "a", "pipeline": inner, "as": "z"}}]);
    }
    assert_eq!(parse(inner).unwrap_err().code, 5054600);
}

#[test]
fn union_with_from_the_manual() {
    let s2017 = vec![
        doc! {"store": "General Store", "item": "Chocolates", "quantity": 150},
        doc! {"store": "ShopMart", "item": "Cookies", "quantity": 100},
    ];
    let s2018 = vec![
        doc! {"store": "General Store", "item": "Cookies", "quantity": 200},
        doc! {"store": "ShopMart", "item": "Chocolates", "quantity": 50},
    ];
    let s2019 = vec![doc! {"store": "ShopMart", "item": "Cookies", "quantity": 90}];
    let colls = Colls::new(&[("sales_2018", s2018), ("sales_2019", s2019)]);
    let out = run_with(
        bson!([
            {"$set": {"_id": "2017"}},
            {"$unionWith": {"coll": "sales_2018", "pipeline": [{"$set": {"_id": "2018"}}]}},
            {"$unionWith": {"coll": "sales_2019", "pipeline": [{"$set": {"_id": "2019"}}]}},
            {"$sort": {"_id": 1, "store": 1, "item": 1}}
        ]),
        s2017.clone(),
        &colls,
    )
    .unwrap();
    assert_eq!(ids(&out), vec![Bson::from("2017"), "2017".into(), "2018".into(), "2018".into(), "2019".into()]);
    let out = run_with(
        bson!([{"$unionWith": "sales_2018"}, {"$unionWith": "sales_2019"},
            {"$group": {"_id": "$item", "total": {"$sum": "$quantity"}}}, {"$sort": {"total": -1}}]),
        s2017,
        &colls,
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"_id": "Cookies", "total": 390}, doc! {"_id": "Chocolates", "total": 200}]);
    assert_eq!(parse_err(bson!([{"$unionWith": {"pipeline": []}}])).code, 40414);
    assert_eq!(parse_err(bson!([{"$unionWith": {"coll": "a", "x": 1}}])).code, 40415);
    assert_eq!(parse_err(bson!([{"$unionWith": {"coll": "a", "pipeline": [{"$out": "b"}]}}])).code, 31441);
}

// --- $bucket, $facet, $sortByCount, $sample ----------------------------------------------------

fn artwork() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "title": "The Pillars of Society", "artist": "Grosz", "year": 1926, "price": dec("199.99"),
        "tags": ["painting", "satire", "Expressionism", "caricature"]},
        doc! {"_id": 2, "title": "Melancholy III", "artist": "Munch", "year": 1902, "price": dec("280.00"), "tags": ["woodcut", "Expressionism"]},
        doc! {"_id": 3, "title": "Dancer", "artist": "Miro", "year": 1925, "price": dec("76.04"), "tags": ["oil", "Surrealism", "painting"]},
        doc! {"_id": 4, "title": "The Great Wave off Kanagawa", "artist": "Hokusai", "price": dec("167.30"), "tags": ["woodblock", "ukiyo-e"]},
        doc! {"_id": 5, "title": "The Persistence of Memory", "artist": "Dali", "year": 1931, "price": dec("483.00"),
        "tags": ["Surrealism", "painting", "oil"]},
        doc! {"_id": 6, "title": "Composition VII", "artist": "Kandinsky", "year": 1913, "price": dec("385.00"), "tags": ["oil", "painting", "abstract"]},
        doc! {"_id": 7, "title": "The Scream", "artist": "Munch", "year": 1893, "tags": ["Expressionism", "painting", "oil"]},
        doc! {"_id": 8, "title": "Blue Flower", "artist": "O'Keefe", "year": 1918, "price": dec("118.42"), "tags": ["abstract", "painting"]},
    ]
}

#[test]
fn bucket_from_the_manual() {
    let artists: Vec<Document> = [
        (1, "Bernard", "Emil", 1868),
        (2, "Rippl-Ronai", "Joszef", 1861),
        (3, "Ostroumova", "Anna", 1871),
        (4, "Van Gogh", "Vincent", 1853),
        (5, "Maurer", "Alfred", 1868),
        (6, "Munch", "Edvard", 1863),
        (7, "Redon", "Odilon", 1840),
        (8, "Diriks", "Edvard", 1855),
    ]
    .iter()
    .map(|(id, last, first, born)| doc! {"_id": *id, "last_name": *last, "first_name": *first, "year_born": *born})
    .collect();
    let out = run(
        bson!([
            {"$bucket": {"groupBy": "$year_born", "boundaries": [1840, 1850, 1860, 1870, 1880], "default": "Other",
                "output": {"count": {"$sum": 1},
                    "artists": {"$push": {"name": {"$concat": ["$first_name", " ", "$last_name"]}, "year_born": "$year_born"}}}}},
            {"$match": {"count": {"$gt": 3}}}
        ]),
        artists.clone(),
    )
    .unwrap();
    assert_eq!(
        out,
        vec![doc! {"_id": 1860, "count": 4, "artists": [
        {"name": "Emil Bernard", "year_born": 1868}, {"name": "Joszef Rippl-Ronai", "year_born": 1861},
        {"name": "Alfred Maurer", "year_born": 1868}, {"name": "Edvard Munch", "year_born": 1863}]}]
    );
    // Without output: counts; sorted by _id.
    let out = run(bson!([{"$bucket": {"groupBy": "$year_born", "boundaries": [1840, 1850, 1860, 1870, 1880]}}]), artists).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1840, "count": 1},
            doc! {"_id": 1850, "count": 2},
            doc! {"_id": 1860, "count": 4},
            doc! {"_id": 1870, "count": 1}
        ]
    );
    // The $facet + $bucket price example's bucket.
    let out = run(
        bson!([{"$bucket": {"groupBy": "$price", "boundaries": [0, 200, 400], "default": "Other",
            "output": {"count": {"$sum": 1}, "artwork": {"$push": {"title": "$title", "price": "$price"}}, "averagePrice": {"$avg": "$price"}}}}]),
        artwork(),
    )
    .unwrap();
    assert_eq!(ids(&out), vec![Bson::Int32(0), Bson::Int32(200), Bson::from("Other")]);
    assert_eq!((out[0].get("count"), num(&out[0], "averagePrice")), (Some(&Bson::Int32(4)), 140.4375));
    assert_eq!((out[1].get("count"), num(&out[1], "averagePrice")), (Some(&Bson::Int32(2)), 332.5));
    assert_eq!((out[2].get("count"), num(&out[2], "averagePrice")), (Some(&Bson::Int32(2)), 483.0));
    assert_eq!(out[2].get_array("artwork").unwrap()[1], bson!({"title": "The Scream"}));
    // Out of range without default.
    let e = run(bson!([{"$bucket": {"groupBy": "$x", "boundaries": [0, 10]}}]), vec![doc! {"x": 10}]).unwrap_err();
    assert_eq!(e.code, 40066);
    assert_eq!(parse_err(bson!([{"$bucket": {"groupBy": "$x"}}])).code, 40198);
    assert_eq!(parse_err(bson!([{"$bucket": {"groupBy": "$x", "boundaries": [1]}}])).code, 40192);
    assert_eq!(parse_err(bson!([{"$bucket": {"groupBy": "$x", "boundaries": [1, "a"]}}])).code, 40193);
    assert_eq!(parse_err(bson!([{"$bucket": {"groupBy": "$x", "boundaries": [2, 1]}}])).code, 40194);
    assert_eq!(parse_err(bson!([{"$bucket": {"groupBy": "$x", "boundaries": [0, 10], "default": 5}}])).code, 40199);
    assert_eq!(parse_err(bson!([{"$bucket": {"groupBy": "x", "boundaries": [0, 10]}}])).code, 40202);
    assert_eq!(parse_err(bson!([{"$bucket": {"groupBy": "$x", "boundaries": [0, 10], "y": 1}}])).code, 40197);
}

#[test]
fn facet_and_sort_by_count_from_the_manual() {
    let out = run(
        bson!([{"$facet": {
            "categorizedByTags": [{"$unwind": "$tags"}, {"$sortByCount": "$tags"}],
            "categorizedByYears(Auto)": [{"$bucketAuto": {"groupBy": "$year", "buckets": 4}}],
            "categorizedByPrice": [
                {"$match": {"price": {"$exists": 1}}},
                {"$bucket": {"groupBy": "$price", "boundaries": [0, 150, 200, 300, 400], "default": "Other",
                    "output": {"count": {"$sum": 1}, "titles": {"$push": "$title"}}}}
            ]
        }}]),
        artwork(),
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    let tags = out[0].get_array("categorizedByTags").unwrap();
    let counts: Vec<(String, i32)> = tags
        .iter()
        .map(|t| {
            let t = t.as_document().unwrap();
            (t.get_str("_id").unwrap().to_string(), t.get_i32("count").unwrap())
        })
        .collect();
    assert_eq!(&counts[..3], &[("painting".to_string(), 6), ("oil".to_string(), 4), ("Expressionism".to_string(), 3)]);
    assert_eq!(counts.len(), 10);
    assert!(counts[3..5].iter().all(|(_, n)| *n == 2) && counts[5..].iter().all(|(_, n)| *n == 1));
    assert_eq!(
        out[0].get_array("categorizedByPrice").unwrap(),
        &vec![
            bson!({"_id": 0, "count": 2, "titles": ["Dancer", "Blue Flower"]}),
            bson!({"_id": 150, "count": 2, "titles": ["The Pillars of Society", "The Great Wave off Kanagawa"]}),
            bson!({"_id": 200, "count": 1, "titles": ["Melancholy III"]}),
            bson!({"_id": 300, "count": 1, "titles": ["Composition VII"]}),
            bson!({"_id": "Other", "count": 1, "titles": ["The Persistence of Memory"]}),
        ]
    );
    // The document without a year is in the first bucket.
    assert_eq!(
        out[0].get_array("categorizedByYears(Auto)").unwrap(),
        &vec![
            bson!({"_id": {"min": null, "max": 1902}, "count": 2}),
            bson!({"_id": {"min": 1902, "max": 1918}, "count": 2}),
            bson!({"_id": {"min": 1918, "max": 1926}, "count": 2}),
            bson!({"_id": {"min": 1926, "max": 1931}, "count": 2}),
        ]
    );
    // An empty input still gives one document of empty facets.
    let out = run(bson!([{"$facet": {"a": [{"$match": {}}], "b": [{"$count": "n"}]}}]), vec![]).unwrap();
    assert_eq!(out, vec![doc! {"a": [], "b": []}]);
    // $sortByCount with an expression.
    let out = run(bson!([{"$sortByCount": {"$mod": ["$x", 2]}}]), (0..5).map(|x| doc! {"x": x}).collect()).unwrap();
    assert_eq!(out, vec![doc! {"_id": 0, "count": 3}, doc! {"_id": 1, "count": 2}]);
    assert_eq!(parse_err(bson!([{"$facet": {}}])).code, 40169);
    assert_eq!(parse_err(bson!([{"$facet": {"a": 1}}])).code, 40170);
    assert_eq!(parse_err(bson!([{"$facet": {"a": []}}])).code, 40172);
    assert_eq!(parse_err(bson!([{"$facet": {"a": [{"$facet": {"b": [{"$limit": 1}]}}]}}])).code, 40600);
    assert_eq!(parse_err(bson!([{"$facet": {"a": [{"$out": "x"}]}}])).code, 40600);
    assert_eq!(parse_err(bson!([{"$sortByCount": "x"}])).code, 40149);
    assert_eq!(parse_err(bson!([{"$sortByCount": {"a": 1}}])).code, 40147);
}

#[test]
fn sample_picks_distinct_documents() {
    let docs: Vec<Document> = (0..50).map(|i| doc! {"_id": i}).collect();
    let out = run(bson!([{"$sample": {"size": 5}}]), docs.clone()).unwrap();
    assert_eq!(out.len(), 5);
    let mut seen: Vec<i32> = out.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
    assert_eq!(run(bson!([{"$sample": {"size": 100}}]), docs).unwrap().len(), 50);
    assert_eq!(parse_err(bson!([{"$sample": {"size": -1}}])).code, 28747);
    assert_eq!(parse_err(bson!([{"$sample": {}}])).code, 28749);
    assert_eq!(parse_err(bson!([{"$sample": {"size": "a"}}])).code, 28746);
    assert_eq!(parse_err(bson!([{"$sample": {"n": 1}}])).code, 28748);
}

#[test]
fn sort_then_limit_is_top_k() {
    let docs: Vec<Document> = (0..100).map(|i| doc! {"_id": i, "v": (i * 37) % 100, "tie": i % 3}).collect();
    let out = run(bson!([{"$sort": {"v": -1}}, {"$limit": 3}]), docs.clone()).unwrap();
    assert_eq!(out.iter().map(|d| d.get_i32("v").unwrap()).collect::<Vec<_>>(), vec![99, 98, 97]);
    // Stable among ties, like a full sort.
    let top = run(bson!([{"$sort": {"tie": 1}}, {"$limit": 5}]), docs.clone()).unwrap();
    let full = run(bson!([{"$sort": {"tie": 1}}]), docs).unwrap();
    assert_eq!(top, full[..5].to_vec());
}

// --- $out, $merge ------------------------------------------------------------------------------

#[test]
fn out_and_merge_are_parsed_for_the_caller() {
    let p = parse(bson!([{"$match": {"x": 1}}, {"$out": "target"}])).unwrap();
    assert!(matches!(p.stages().last(), Some(Stage::Out { db: None, coll }) if coll == "target"));
    assert_eq!(p.output_collection(), Some((None, "target")));
    // run returns the documents to write.
    let out = p.run(Box::new(vec![doc! {"x": 1}, doc! {"x": 2}].into_iter())).unwrap();
    assert_eq!(out, vec![doc! {"x": 1}]);
    let p = parse(bson!([{"$out": {"db": "other", "coll": "t"}}])).unwrap();
    assert_eq!(p.output_collection(), Some((Some("other"), "t")));
    let p = parse(
        bson!([{"$merge": {"into": {"db": "d", "coll": "c"}, "on": ["a", "b"], "whenMatched": "replace", "whenNotMatched": "discard"}}]),
    )
    .unwrap();
    let Some(Stage::Merge(m)) = p.stages().last() else { panic!() };
    assert_eq!((m.db.as_deref(), m.coll.as_str(), m.on.clone()), (Some("d"), "c", vec!["a".to_string(), "b".to_string()]));
    assert_eq!((m.when_matched.clone(), m.when_not_matched), (WhenMatched::Replace, WhenNotMatched::Discard));
    let p = parse(bson!([{"$merge": "c"}])).unwrap();
    let Some(Stage::Merge(m)) = p.stages().last() else { panic!() };
    assert_eq!(
        (m.on.clone(), m.when_matched.clone(), m.when_not_matched),
        (vec!["_id".to_string()], WhenMatched::Merge, WhenNotMatched::Insert)
    );
    let p = parse(bson!([{"$merge": {"into": "c", "let": {"v": "$x"}, "whenMatched": [{"$set": {"y": "$$v"}}]}}])).unwrap();
    let Some(Stage::Merge(m)) = p.stages().last() else { panic!() };
    assert!(matches!(&m.when_matched, WhenMatched::Pipeline(p) if p.len() == 1));

    let e = parse_err(bson!([{"$out": "a"}, {"$match": {}}]));
    assert_eq!((e.code, e.message.as_str()), (40601, "$out can only be the final stage in the pipeline"));
    assert_eq!(parse_err(bson!([{"$merge": "a"}, {"$match": {}}])).code, 40601);
    assert_eq!(parse_err(bson!([{"$out": 1}])).code, 16990);
    assert_eq!(parse_err(bson!([{"$merge": {"on": "_id"}}])).code, 40414);
    assert_eq!(parse_err(bson!([{"$merge": {"into": "c", "whenMatched": "nope"}}])).code, 2);
    assert_eq!(parse_err(bson!([{"$merge": {"into": "c", "whenMatched": [{"$match": {}}]}}])).code, 72);
    assert_eq!(parse_err(bson!([{"$merge": {"into": "c", "bogus": 1}}])).code, 40415);
    assert_eq!(parse_err(bson!([{"$merge": {"into": "c", "let": {"a": 1}}}])).code, 51199);
    // Not in update pipelines either.
    assert_eq!(parse_update_pipeline(&[Bson::Document(doc! {"$unwind": "$a"})], &vars()).unwrap_err().code, 72);
    assert_eq!(parse_update_pipeline(&[Bson::Document(doc! {"$bucketAuto": {}})], &vars()).unwrap_err().code, 72);
}

// --- The users' guide's pipelines --------------------------------------------------------------

/// "Sales analytics pipeline" (guide, Aggregation Pipelines / Basic Pipeline Operations), with
/// `new Date(Date.now() - 30 days)` fixed as 2024-05-01.
#[test]
fn guide_sales_analytics() {
    let orders = vec![
        doc! {"_id": 1, "createdAt": date("2024-05-10T00:00:00Z"), "status": "completed", "totalAmount": 100,
        "items": [{"category": "books", "quantity": 2, "price": 10}, {"category": "toys", "quantity": 1, "price": 80}]},
        doc! {"_id": 2, "createdAt": date("2024-05-20T00:00:00Z"), "status": "shipped", "totalAmount": 50,
        "items": [{"category": "books", "quantity": 5, "price": 10}]},
        doc! {"_id": 3, "createdAt": date("2024-05-20T00:00:00Z"), "status": "pending", "totalAmount": 100,
        "items": [{"category": "books", "quantity": 100, "price": 1}]},
        doc! {"_id": 4, "createdAt": date("2024-01-20T00:00:00Z"), "status": "completed", "totalAmount": 100,
        "items": [{"category": "games", "quantity": 1, "price": 100}]},
    ];
    let out = run(
        bson!([
            {"$match": {"createdAt": {"$gte": date("2024-05-01T00:00:00Z")}, "status": {"$in": ["completed", "shipped"]}}},
            {"$unwind": "$items"},
            {"$group": {
                "_id": "$items.category",
                "totalRevenue": {"$sum": {"$multiply": ["$items.quantity", "$items.price"]}},
                "totalQuantity": {"$sum": "$items.quantity"},
                "orderCount": {"$sum": 1},
                "avgOrderValue": {"$avg": "$totalAmount"}
            }},
            {"$sort": {"totalRevenue": -1}},
            {"$addFields": {"revenuePercentage": {"$multiply": [{"$divide": ["$totalRevenue", {"$sum": "$totalRevenue"}]}, 100]}}}
        ]),
        orders,
    )
    .unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": "toys", "totalRevenue": 80, "totalQuantity": 1, "orderCount": 1, "avgOrderValue": 100.0, "revenuePercentage": 100.0},
            doc! {"_id": "books", "totalRevenue": 70, "totalQuantity": 7, "orderCount": 2, "avgOrderValue": 75.0, "revenuePercentage": 100.0},
        ]
    );
}

/// "Customer segmentation pipeline" (guide, Advanced Aggregation Patterns), `new Date()` fixed
/// as 2024-06-01.
#[test]
fn guide_customer_segmentation() {
    let now = "2024-06-01T00:00:00Z";
    let users = vec![doc! {"_id": "u1", "name": "Ann"}, doc! {"_id": "u2", "name": "Bob"}, doc! {"_id": "u3", "name": "Cy"}];
    let orders = vec![
        doc! {"_id": 1, "userId": "u1", "totalAmount": 600, "createdAt": date("2024-05-22T00:00:00Z")},
        doc! {"_id": 2, "userId": "u1", "totalAmount": 500, "createdAt": date("2024-04-22T00:00:00Z")},
        doc! {"_id": 3, "userId": "u2", "totalAmount": 600, "createdAt": date("2024-04-12T00:00:00Z")},
    ];
    let colls = Colls::new(&[("orders", orders)]);
    let out = run_with(
        bson!([
            {"$lookup": {"from": "orders", "localField": "_id", "foreignField": "userId", "as": "orders"}},
            {"$addFields": {
                "totalSpent": {"$sum": "$orders.totalAmount"},
                "orderCount": {"$size": "$orders"},
                "avgOrderValue": {"$avg": "$orders.totalAmount"},
                "lastOrderDate": {"$max": "$orders.createdAt"},
                "daysSinceLastOrder": {"$divide": [{"$subtract": [date(now), {"$max": "$orders.createdAt"}]}, 1000 * 60 * 60 * 24]}
            }},
            {"$addFields": {"segment": {"$switch": {"branches": [
                {"case": {"$and": [{"$gte": ["$totalSpent", 1000]}, {"$lte": ["$daysSinceLastOrder", 30]}]}, "then": "VIP"},
                {"case": {"$and": [{"$gte": ["$totalSpent", 500]}, {"$lte": ["$daysSinceLastOrder", 60]}]}, "then": "Regular"},
                {"case": {"$gt": ["$daysSinceLastOrder", 90]}, "then": "At Risk"}
            ], "default": "New"}}}},
            {"$group": {"_id": "$segment", "count": {"$sum": 1}, "avgSpent": {"$avg": "$totalSpent"}, "avgOrders": {"$avg": "$orderCount"}}}
        ]),
        users,
        &colls,
    )
    .unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": "VIP", "count": 1, "avgSpent": 1100.0, "avgOrders": 2.0},
            doc! {"_id": "Regular", "count": 1, "avgSpent": 600.0, "avgOrders": 1.0},
            doc! {"_id": "New", "count": 1, "avgSpent": 0.0, "avgOrders": 0.0},
        ]
    );
}

/// "Website analytics - daily page views" (guide, Time-Series Aggregation).
#[test]
fn guide_daily_page_views() {
    let views = vec![
        doc! {"timestamp": date("2024-01-05T10:00:00Z"), "page": "/home", "userId": "a"},
        doc! {"timestamp": date("2024-01-05T11:00:00Z"), "page": "/home", "userId": "a"},
        doc! {"timestamp": date("2024-01-05T12:00:00Z"), "page": "/home", "userId": "b"},
        doc! {"timestamp": date("2024-01-05T13:00:00Z"), "page": "/about", "userId": "a"},
        doc! {"timestamp": date("2024-01-04T23:59:59Z"), "page": "/home", "userId": "c"},
        doc! {"timestamp": date("2024-02-01T00:00:00Z"), "page": "/home", "userId": "z"},
    ];
    let out = run(
        bson!([
            {"$match": {"timestamp": {"$gte": date("2024-01-01T00:00:00Z"), "$lt": date("2024-02-01T00:00:00Z")}}},
            {"$group": {"_id": {"year": {"$year": "$timestamp"}, "month": {"$month": "$timestamp"}, "day": {"$dayOfMonth": "$timestamp"}, "page": "$page"},
                "views": {"$sum": 1}, "uniqueUsers": {"$addToSet": "$userId"}}},
            {"$addFields": {"uniqueUserCount": {"$size": "$uniqueUsers"},
                "date": {"$dateFromParts": {"year": "$_id.year", "month": "$_id.month", "day": "$_id.day"}}}},
            {"$project": {"_id": 0, "date": 1, "page": "$_id.page", "views": 1, "uniqueUsers": "$uniqueUserCount"}},
            {"$sort": {"date": 1, "page": 1}}
        ]),
        views,
    )
    .unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"views": 1, "date": date("2024-01-04T00:00:00Z"), "page": "/home", "uniqueUsers": 1},
            doc! {"views": 1, "date": date("2024-01-05T00:00:00Z"), "page": "/about", "uniqueUsers": 1},
            doc! {"views": 3, "date": date("2024-01-05T00:00:00Z"), "page": "/home", "uniqueUsers": 2},
        ]
    );
}

/// The cache-aside product query (guide, Caching Strategies): two `$lookup`s then ratings.
#[test]
fn guide_product_with_reviews_and_inventory() {
    let oid = bson::oid::ObjectId::parse_str("65a000000000000000000001").unwrap();
    let products = vec![doc! {"_id": oid, "name": "Lamp"}, doc! {"_id": "other"}];
    let colls = Colls::new(&[
        (
            "reviews",
            vec![doc! {"productId": oid, "rating": 4}, doc! {"productId": oid, "rating": 5}, doc! {"productId": "other", "rating": 1}],
        ),
        ("inventory", vec![doc! {"productId": oid, "quantity": 3}]),
    ]);
    let out = run_with(
        bson!([
            {"$match": {"_id": oid}},
            {"$lookup": {"from": "reviews", "localField": "_id", "foreignField": "productId", "as": "reviews"}},
            {"$lookup": {"from": "inventory", "localField": "_id", "foreignField": "productId", "as": "inventory"}},
            {"$addFields": {"avgRating": {"$avg": "$reviews.rating"}, "reviewCount": {"$size": "$reviews"},
                "inStock": {"$gt": [{"$arrayElemAt": ["$inventory.quantity", 0]}, 0]}}}
        ]),
        products,
        &colls,
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].get("avgRating"), out[0].get("reviewCount"), out[0].get("inStock")),
        (Some(&Bson::Double(4.5)), Some(&Bson::Int32(2)), Some(&Bson::Boolean(true)))
    );
}

/// "Top 10 most engaging posts" (guide, interview questions): `$lookup` with localField and a
/// projecting pipeline, `$unwind`, `$sort` + `$limit`, dotted `$project`.
#[test]
fn guide_top_posts_with_authors() {
    let mut posts = Vec::new();
    for i in 0..12 {
        posts.push(doc! {"_id": i, "authorId": i % 2, "content": format!("post {i}"), "likeCount": i, "commentCount": 12 - i,
        "createdAt": date("2024-05-20T00:00:00Z"), "secret": "x"});
    }
    posts.push(doc! {"_id": 99, "authorId": 0, "likeCount": 1000, "commentCount": 0, "createdAt": date("2023-01-01T00:00:00Z")});
    let users = vec![
        doc! {"_id": 0, "username": "ann", "email": "a@x", "profile": {"displayName": "Ann", "avatar": "a.png", "bio": "hi"}},
        doc! {"_id": 1, "username": "bob", "email": "b@x", "profile": {"displayName": "Bob", "avatar": "b.png"}},
    ];
    let colls = Colls::new(&[("users", users)]);
    let out = run_with(
        bson!([
            {"$match": {"createdAt": {"$gte": date("2024-05-01T00:00:00Z")}}},
            {"$addFields": {"engagementScore": {"$add": ["$likeCount", {"$multiply": ["$commentCount", 2]}]}}},
            {"$lookup": {"from": "users", "localField": "authorId", "foreignField": "_id", "as": "author",
                "pipeline": [{"$project": {"username": 1, "profile.displayName": 1, "profile.avatar": 1}}]}},
            {"$unwind": "$author"},
            {"$sort": {"engagementScore": -1}},
            {"$limit": 10},
            {"$project": {"content": 1, "likeCount": 1, "commentCount": 1, "engagementScore": 1, "createdAt": 1,
                "author.username": 1, "author.profile.displayName": 1, "author.profile.avatar": 1}}
        ]),
        posts,
        &colls,
    )
    .unwrap();
    // engagement = i + 2 * (12 - i) = 24 - i: highest for i = 0.
    assert_eq!(out.len(), 10);
    assert_eq!(ids(&out), (0..10).map(Bson::Int32).collect::<Vec<_>>());
    assert_eq!(
        out[1],
        doc! {"_id": 1, "content": "post 1", "likeCount": 1, "commentCount": 11, "createdAt": date("2024-05-20T00:00:00Z"),
        "engagementScore": 23, "author": {"username": "bob", "profile": {"displayName": "Bob", "avatar": "b.png"}}}
    );
}

/// "Use aggregation with $match early" (guide, performance answers).
#[test]
fn guide_match_early() {
    let mut orders = Vec::new();
    for i in 0..30 {
        orders.push(doc! {"_id": i, "customer": {"location": if i % 3 == 0 { "Oakland" } else { "San Francisco" }},
        "status": if i % 5 == 0 { "pending" } else { "completed" }, "createdAt": date(&format!("2024-01-{:02}T00:00:00Z", i + 1)),
        "totalAmount": i * 10});
    }
    let out = run(
        bson!([
            {"$match": {"customer.location": "San Francisco", "status": "completed", "createdAt": {"$gte": date("2024-01-01T00:00:00Z")}}},
            {"$match": {"totalAmount": {"$gte": 100}}},
            {"$sort": {"createdAt": -1}},
            {"$limit": 20}
        ]),
        orders,
    )
    .unwrap();
    // i in 10..30, not divisible by 3 or 5, newest first.
    let expected: Vec<Bson> = (10..30).rev().filter(|i| i % 3 != 0 && i % 5 != 0).map(Bson::Int32).collect();
    assert_eq!(ids(&out), expected);
}

/// The equality join's index agrees with evaluating `{foreignField: {$eq: v}}` on every foreign
/// document, over awkward shapes (arrays along the path, nested arrays, mixed numeric types,
/// nulls and missing fields).
#[test]
fn lookup_index_agrees_with_the_query_filter() {
    let foreign = vec![
        doc! {"_id": 0, "a": 1},
        doc! {"_id": 1, "a": 1.0},
        doc! {"_id": 2, "a": [1, 2]},
        doc! {"_id": 3, "a": [[1, 2], 3]},
        doc! {"_id": 4, "a": {"b": 1}},
        doc! {"_id": 5, "a": [{"b": 2}, {"b": [1, 3]}, {"c": 1}]},
        doc! {"_id": 6, "a": null},
        doc! {"_id": 7},
        doc! {"_id": 8, "a": "1"},
        doc! {"_id": 9, "a": [{"b": null}]},
        doc! {"_id": 10, "a": 2_i64},
    ];
    let locals = vec![
        bson!(1),
        bson!(2),
        bson!([1, 2]),
        bson!([[1, 2]]),
        bson!(null),
        bson!({"b": 1}),
        bson!("1"),
        bson!([]),
        bson!(3),
        bson!([{"b": 2}]),
    ];
    for field in ["a", "a.b", "a.0", "a.c"] {
        let colls = Colls::new(&[("f", foreign.clone())]);
        let docs: Vec<Document> = locals.iter().map(|l| doc! {"l": l.clone()}).chain(std::iter::once(doc! {})).collect();
        let out = run_with(bson!([{"$lookup": {"from": "f", "localField": "l", "foreignField": field, "as": "j"}}]), docs.clone(), &colls)
            .unwrap();
        for (d, o) in docs.iter().zip(&out) {
            // Brute force: the same query over every foreign document.
            let mut values = Vec::new();
            if let Some(v) = d.get("l") {
                join::collect_values(v, &[], &mut values);
            }
            let expected: Vec<Bson> = foreign
                .iter()
                .filter(|f| {
                    if values.is_empty() {
                        return Filter::parse(&doc! {field: {"$eq": null}}, &vars()).unwrap().matches(f).unwrap();
                    }
                    values.iter().any(|v| Filter::parse(&doc! {field: {"$eq": v.clone()}}, &vars()).unwrap().matches(f).unwrap())
                })
                .map(|f| f.get("_id").unwrap().clone())
                .collect();
            let got: Vec<Bson> = o.get_array("j").unwrap().iter().map(|j| j.as_document().unwrap().get("_id").unwrap().clone()).collect();
            assert_eq!(got, expected, "field {field}, local {d}");
        }
    }
}

#[test]
fn bucket_auto_from_the_manual() {
    let prices = ["199.99", "280.00", "76.04", "167.30", "483.00", "385.00", "159.00", "118.42"];
    let docs: Vec<Document> = prices.iter().enumerate().map(|(i, p)| doc! {"_id": i as i32 + 1, "price": dec(p)}).collect();
    let out = run(bson!([{"$bucketAuto": {"groupBy": "$price", "buckets": 4}}]), docs.clone()).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": {"min": dec("76.04"), "max": dec("159.00")}, "count": 2},
            doc! {"_id": {"min": dec("159.00"), "max": dec("199.99")}, "count": 2},
            doc! {"_id": {"min": dec("199.99"), "max": dec("385.00")}, "count": 2},
            doc! {"_id": {"min": dec("385.00"), "max": dec("483.00")}, "count": 2},
        ]
    );
    // Output accumulators; equal values stay together; fewer buckets when values repeat.
    let out = run(
        bson!([{"$bucketAuto": {"groupBy": "$v", "buckets": 3, "output": {"ids": {"$push": "$_id"}}}}]),
        vec![doc! {"_id": 1, "v": 1}, doc! {"_id": 2, "v": 1}, doc! {"_id": 3, "v": 1}, doc! {"_id": 4, "v": 2}],
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"_id": {"min": 1, "max": 2}, "ids": [1, 2, 3]}, doc! {"_id": {"min": 2, "max": 2}, "ids": [4]}]);
    // More buckets than documents: one each.
    let out = run(bson!([{"$bucketAuto": {"groupBy": "$v", "buckets": 10}}]), vec![doc! {"v": 2}, doc! {"v": 1}]).unwrap();
    assert_eq!(out, vec![doc! {"_id": {"min": 1, "max": 2}, "count": 1}, doc! {"_id": {"min": 2, "max": 2}, "count": 1}]);
    assert!(run(bson!([{"$bucketAuto": {"groupBy": "$v", "buckets": 2}}]), vec![]).unwrap().is_empty());
    assert_eq!(parse_err(bson!([{"$bucketAuto": {"groupBy": "$v"}}])).code, 40246);
    assert_eq!(parse_err(bson!([{"$bucketAuto": {"groupBy": "$v", "buckets": 0}}])).code, 40243);
    assert_eq!(parse_err(bson!([{"$bucketAuto": {"groupBy": "$v", "buckets": "a"}}])).code, 40241);
    assert_eq!(parse_err(bson!([{"$bucketAuto": {"groupBy": "v", "buckets": 1}}])).code, 40239);
    assert_eq!(parse_err(bson!([{"$bucketAuto": {"groupBy": "$v", "buckets": 1, "x": 1}}])).code, 40245);
}

#[test]
fn foreign_sources_and_path_caps() {
    let mut map: HashMap<String, Vec<Document>> = HashMap::new();
    map.insert("f".into(), vec![doc! {"k": 1}]);
    let p = parse(bson!([{"$lookup": {"from": "f", "localField": "k", "foreignField": "k", "as": "j"}}])).unwrap();
    let out = p.run_with(Box::new(std::iter::once(doc! {"k": 1})), &map).unwrap();
    assert_eq!(out, vec![doc! {"k": 1, "j": [{"k": 1}]}]);
    let reader = |c: &str| -> Result<Vec<Document>, DocError> {
        if c == "f" {
            Ok(vec![doc! {"k": 1, "from": "closure"}])
        } else {
            Err(DocError::bad_value("no such"))
        }
    };
    let out = p.run_with(Box::new(std::iter::once(doc! {"k": 1})), &reader).unwrap();
    assert_eq!(out[0].get_array("j").unwrap().len(), 1);
    // A Foreign error stops the pipeline.
    let p2 = parse(bson!([{"$unionWith": "g"}])).unwrap();
    assert_eq!(p2.run_with(Box::new(std::iter::empty()), &reader).unwrap_err().code, 2);
    // Absurdly long paths are refused, not recursed into.
    let long = vec!["a"; 300].join(".");
    assert_eq!(parse_err(bson!([{"$unwind": format!("${long}")}])).code, 15);
    assert_eq!(parse_err(bson!([{"$lookup": {"from": "f", "localField": long.clone(), "foreignField": "k", "as": "j"}}])).code, 15);
    assert_eq!(parse_err(bson!([{"$project": {long.clone(): 1}}])).code, 15);
    assert_eq!(parse_err(bson!([{"$set": {long.clone(): 1}}])).code, 15);
}

#[test]
fn redact_and_documents_from_the_manual() {
    let forecasts = doc! {
        "_id": 1, "title": "123 Department Report", "tags": ["G", "STLW"], "year": 2014,
        "subsections": [
            {"subtitle": "Section 1: Overview", "tags": ["SI", "G"], "content": "Section 1: This is the content of section 1."},
            {"subtitle": "Section 2: Analysis", "tags": ["STLW"], "content": "Section 2: This is the content of section 2."},
            {"subtitle": "Section 3: Budgeting", "tags": ["TK"], "content": {"text": "Section 3: This is the content of section3.", "tags": ["HCS"]}}
        ]
    };
    let out = run(
        bson!([
            {"$match": {"year": 2014}},
            {"$redact": {"$cond": {
                "if": {"$gt": [{"$size": {"$setIntersection": ["$tags", ["STLW", "G"]]}}, 0]},
                "then": "$$DESCEND", "else": "$$PRUNE"}}}
        ]),
        vec![forecasts],
    )
    .unwrap();
    assert_eq!(
        out,
        vec![doc! {
            "_id": 1, "title": "123 Department Report", "tags": ["G", "STLW"], "year": 2014,
            "subsections": [
                {"subtitle": "Section 1: Overview", "tags": ["SI", "G"], "content": "Section 1: This is the content of section 1."},
                {"subtitle": "Section 2: Analysis", "tags": ["STLW"], "content": "Section 2: This is the content of section 2."}
            ]
        }]
    );
    // $$KEEP keeps the whole document; $$ROOT stays the top document while descending.
    let accounts = vec![doc! {"_id": 1, "level": 1, "acct_id": "xyz123", "cc": {"level": 5, "type": "yy"}}, doc! {"_id": 2, "level": 5}];
    let out =
        run(bson!([{"$redact": {"$cond": {"if": {"$eq": ["$level", 5]}, "then": "$$PRUNE", "else": "$$DESCEND"}}}]), accounts.clone())
            .unwrap();
    assert_eq!(out, vec![doc! {"_id": 1, "level": 1, "acct_id": "xyz123"}]);
    let out = run(bson!([{"$redact": {"$cond": [{"$eq": ["$$ROOT._id", 1]}, "$$KEEP", "$$PRUNE"]}}]), accounts.clone()).unwrap();
    assert_eq!(out, vec![accounts[0].clone()]);
    let e = run(bson!([{"$redact": "$level"}]), accounts).unwrap_err();
    assert_eq!(e.code, 17053);

    let out =
        run(bson!([{"$documents": [{"x": 10}, {"x": 2}, {"x": 5}]}, {"$bucketAuto": {"groupBy": "$x", "buckets": 4}}]), vec![]).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": {"min": 2, "max": 5}, "count": 1},
            doc! {"_id": {"min": 5, "max": 10}, "count": 1},
            doc! {"_id": {"min": 10, "max": 10}, "count": 1},
        ]
    );
    assert_eq!(parse_err(bson!([{"$match": {}}, {"$documents": []}])).code, 40602);
    assert_eq!(run(bson!([{"$documents": 1}]), vec![]).unwrap_err().code, 5858203);
}

// --- $setWindowFields ----------------------------------------------------------------------------

fn cake_sales() -> Vec<Document> {
    vec![
        doc! {"_id": 0, "type": "chocolate", "orderDate": date("2020-05-18T14:10:30Z"), "state": "CA", "price": 13, "quantity": 120},
        doc! {"_id": 1, "type": "chocolate", "orderDate": date("2021-03-20T11:30:05Z"), "state": "WA", "price": 14, "quantity": 140},
        doc! {"_id": 2, "type": "vanilla", "orderDate": date("2021-01-11T06:31:15Z"), "state": "CA", "price": 12, "quantity": 145},
        doc! {"_id": 3, "type": "vanilla", "orderDate": date("2020-02-08T13:13:23Z"), "state": "WA", "price": 13, "quantity": 104},
        doc! {"_id": 4, "type": "strawberry", "orderDate": date("2019-05-18T16:09:01Z"), "state": "CA", "price": 41, "quantity": 162},
        doc! {"_id": 5, "type": "strawberry", "orderDate": date("2019-01-08T06:12:03Z"), "state": "WA", "price": 43, "quantity": 134},
    ]
}

/// (_id, output field) pairs of a result.
fn pairs(out: &[Document], field: &str) -> Vec<(i32, Bson)> {
    out.iter().map(|d| (d.get_i32("_id").unwrap(), d.get(field).cloned().unwrap_or(Bson::Null))).collect()
}

#[test]
fn set_window_fields_from_the_manual() {
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": "$state", "sortBy": {"orderDate": 1},
            "output": {"cumulativeQuantityForState": {"$sum": "$quantity", "window": {"documents": ["unbounded", "current"]}}}}}]),
        cake_sales(),
    )
    .unwrap();
    assert_eq!(
        pairs(&out, "cumulativeQuantityForState"),
        vec![(4, bson!(162)), (0, bson!(282)), (2, bson!(427)), (5, bson!(134)), (3, bson!(238)), (1, bson!(378))]
    );
    assert_eq!(
        out[0],
        doc! {"_id": 4, "type": "strawberry", "orderDate": date("2019-05-18T16:09:01Z"), "state": "CA", "price": 41, "quantity": 162, "cumulativeQuantityForState": 162}
    );
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": {"$year": "$orderDate"}, "sortBy": {"orderDate": 1},
        "output": {
            "cumulativeQuantityForYear": {"$sum": "$quantity", "window": {"documents": ["unbounded", "current"]}},
            "maximumQuantityForYear": {"$max": "$quantity", "window": {"documents": ["unbounded", "unbounded"]}},
            "averageQuantity": {"$avg": "$quantity", "window": {"documents": [-1, 0]}}
        }}}]),
        cake_sales(),
    )
    .unwrap();
    assert_eq!(
        pairs(&out, "cumulativeQuantityForYear"),
        vec![(5, bson!(134)), (4, bson!(296)), (3, bson!(104)), (0, bson!(224)), (2, bson!(145)), (1, bson!(285))]
    );
    assert_eq!(
        pairs(&out, "maximumQuantityForYear"),
        vec![(5, bson!(162)), (4, bson!(162)), (3, bson!(120)), (0, bson!(120)), (2, bson!(145)), (1, bson!(145))]
    );
    assert_eq!(
        pairs(&out, "averageQuantity"),
        vec![(5, bson!(134.0)), (4, bson!(148.0)), (3, bson!(104.0)), (0, bson!(112.0)), (2, bson!(145.0)), (1, bson!(142.5))]
    );
    // Range window over prices.
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": "$state", "sortBy": {"price": 1},
            "output": {"quantityFromSimilarOrders": {"$sum": "$quantity", "window": {"range": [-10, 10]}}}}}]),
        cake_sales(),
    )
    .unwrap();
    assert_eq!(
        pairs(&out, "quantityFromSimilarOrders"),
        vec![(2, bson!(265)), (0, bson!(265)), (4, bson!(162)), (3, bson!(244)), (1, bson!(244)), (5, bson!(134))]
    );
    // Range over dates with a unit: orders within the 400 days before each order (itself
    // included): 2021-03-20 reaches back to 2020-02-14, so it counts 2021-01-11 and 2020-05-18
    // but not 2020-02-08.
    let out = run(
        bson!([{"$setWindowFields": {"sortBy": {"orderDate": 1},
            "output": {"n": {"$count": {}, "window": {"range": [-400, 0], "unit": "day"}}}}}]),
        cake_sales(),
    )
    .unwrap();
    assert_eq!(pairs(&out, "n"), vec![(5, bson!(1)), (4, bson!(2)), (3, bson!(3)), (0, bson!(3)), (2, bson!(3)), (1, bson!(3))]);
    // The manual's "recentOrders": order dates from the start up to 10 months after each one.
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": "$state", "sortBy": {"orderDate": 1},
            "output": {"recentOrders": {"$push": "$orderDate", "window": {"range": ["unbounded", 10], "unit": "month"}}}}}]),
        cake_sales(),
    )
    .unwrap();
    assert_eq!(
        pairs(&out, "recentOrders"),
        vec![
            (4, bson!([date("2019-05-18T16:09:01Z")])),
            (0, bson!([date("2019-05-18T16:09:01Z"), date("2020-05-18T14:10:30Z"), date("2021-01-11T06:31:15Z")])),
            (2, bson!([date("2019-05-18T16:09:01Z"), date("2020-05-18T14:10:30Z"), date("2021-01-11T06:31:15Z")])),
            (5, bson!([date("2019-01-08T06:12:03Z")])),
            (3, bson!([date("2019-01-08T06:12:03Z"), date("2020-02-08T13:13:23Z")])),
            (1, bson!([date("2019-01-08T06:12:03Z"), date("2020-02-08T13:13:23Z"), date("2021-03-20T11:30:05Z")])),
        ]
    );
    // "current" in a range window is the current document's position.
    let out = run(
        bson!([{"$setWindowFields": {"sortBy": {"v": 1}, "output": {"s": {"$sum": "$v", "window": {"range": ["unbounded", "current"]}}}}}]),
        vec![doc! {"_id": 1, "v": 1}, doc! {"_id": 2, "v": 1}, doc! {"_id": 3, "v": 2}],
    )
    .unwrap();
    assert_eq!(pairs(&out, "s"), vec![(1, bson!(1)), (2, bson!(2)), (3, bson!(4))]);
    assert_eq!(
        parse_err(bson!([{"$setWindowFields": {"sortBy": {"v": -1}, "output": {"s": {"$sum": "$v", "window": {"range": [-1, 0]}}}}}])).code,
        5339902
    );
}

#[test]
fn rank_shift_and_locf_from_the_manual() {
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": "$state", "sortBy": {"quantity": -1},
        "output": {
            "rankQuantityForState": {"$rank": {}},
            "documentNumberForState": {"$documentNumber": {}},
            "shiftQuantityForState": {"$shift": {"output": "$quantity", "by": 1, "default": "Not available"}}
        }}}]),
        cake_sales(),
    )
    .unwrap();
    assert_eq!(
        pairs(&out, "rankQuantityForState"),
        vec![(4, bson!(1)), (2, bson!(2)), (0, bson!(3)), (1, bson!(1)), (5, bson!(2)), (3, bson!(3))]
    );
    assert_eq!(pairs(&out, "documentNumberForState"), pairs(&out, "rankQuantityForState"));
    assert_eq!(
        pairs(&out, "shiftQuantityForState"),
        vec![(4, bson!(145)), (2, bson!(120)), (0, bson!("Not available")), (1, bson!(134)), (5, bson!(104)), (3, bson!("Not available"))]
    );
    // Ties: $rank leaves gaps, $denseRank does not.
    let docs: Vec<Document> = [(1, 10), (2, 20), (3, 20), (4, 30)].iter().map(|(i, s)| doc! {"_id": *i, "s": *s}).collect();
    let out =
        run(bson!([{"$setWindowFields": {"sortBy": {"s": 1}, "output": {"r": {"$rank": {}}, "d": {"$denseRank": {}}}}}]), docs).unwrap();
    assert_eq!(pairs(&out, "r"), vec![(1, bson!(1)), (2, bson!(2)), (3, bson!(2)), (4, bson!(4))]);
    assert_eq!(pairs(&out, "d"), vec![(1, bson!(1)), (2, bson!(2)), (3, bson!(2)), (4, bson!(3))]);
    // $locf fills nulls and missing values with the last non-null one.
    let stock = vec![
        doc! {"_id": 1, "time": 1, "price": 5},
        doc! {"_id": 2, "time": 2},
        doc! {"_id": 3, "time": 3, "price": null},
        doc! {"_id": 4, "time": 4, "price": 7},
        doc! {"_id": 5, "time": 5},
    ];
    let out = run(bson!([{"$setWindowFields": {"sortBy": {"time": 1}, "output": {"price": {"$locf": "$price"}}}}]), stock).unwrap();
    assert_eq!(pairs(&out, "price"), vec![(1, bson!(5)), (2, bson!(5)), (3, bson!(5)), (4, bson!(7)), (5, bson!(7))]);
    // Without sortBy: whole-partition accumulators, dotted outputs.
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": "$state", "output": {"stats.total": {"$sum": "$quantity"}, "stats.types": {"$addToSet": "$type"}}}}]),
        cake_sales(),
    )
    .unwrap();
    assert_eq!(out[0].get_document("stats").unwrap(), &doc! {"total": 427, "types": ["chocolate", "vanilla", "strawberry"]});

    assert_eq!(parse_err(bson!([{"$setWindowFields": {"output": {"r": {"$rank": {}}}}}])).code, 5371602);
    assert_eq!(parse_err(bson!([{"$setWindowFields": {"output": {"r": {"$nope": 1}}}}])).code, 5371600);
    assert_eq!(parse_err(bson!([{"$setWindowFields": {"output": {"r": {"$sum": 1, "window": {"documents": [-1, 0]}}}}}])).code, 5339901);
    assert_eq!(
        parse_err(bson!([{"$setWindowFields": {"sortBy": {"a": 1, "b": 1}, "output": {"r": {"$sum": 1, "window": {"range": [-1, 0]}}}}}]))
            .code,
        5339902
    );
    assert_eq!(
        parse_err(bson!([{"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$sum": 1, "window": {"documents": [1, 0]}}}}}])).code,
        9
    );
    assert_eq!(parse_err(bson!([{"$setWindowFields": {"sortBy": {"a": 1}}}])).code, 40414);
    let e = run(
        bson!([{"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$sum": 1, "window": {"range": [-1, 0]}}}}}]),
        vec![doc! {"a": "x"}],
    )
    .unwrap_err();
    assert_eq!(e.code, 5429414);
}

// --- $graphLookup --------------------------------------------------------------------------------

fn sorted_ids(d: &Document, field: &str) -> Vec<i32> {
    let mut v: Vec<i32> = d.get_array(field).unwrap().iter().map(|x| x.as_document().unwrap().get_i32("_id").unwrap()).collect();
    v.sort();
    v
}

#[test]
fn graph_lookup_from_the_manual() {
    let employees = vec![
        doc! {"_id": 1, "name": "Dev"},
        doc! {"_id": 2, "name": "Eliot", "reportsTo": "Dev"},
        doc! {"_id": 3, "name": "Ron", "reportsTo": "Eliot"},
        doc! {"_id": 4, "name": "Andrew", "reportsTo": "Eliot"},
        doc! {"_id": 5, "name": "Asya", "reportsTo": "Ron"},
        doc! {"_id": 6, "name": "Dan", "reportsTo": "Andrew"},
    ];
    let colls = Colls::new(&[("employees", employees.clone())]);
    let out = run_with(
        bson!([{"$graphLookup": {"from": "employees", "startWith": "$reportsTo", "connectFromField": "reportsTo",
            "connectToField": "name", "as": "reportingHierarchy"}}]),
        employees,
        &colls,
    )
    .unwrap();
    let expected = [vec![], vec![1], vec![1, 2], vec![1, 2], vec![1, 2, 3], vec![1, 2, 4]];
    for (d, e) in out.iter().zip(expected) {
        assert_eq!(sorted_ids(d, "reportingHierarchy"), e, "{d}");
    }

    let airports = vec![
        doc! {"_id": 0, "airport": "JFK", "connects": ["BOS", "ORD"]},
        doc! {"_id": 1, "airport": "BOS", "connects": ["JFK", "PWM"]},
        doc! {"_id": 2, "airport": "ORD", "connects": ["JFK"]},
        doc! {"_id": 3, "airport": "PWM", "connects": ["BOS", "LHR"]},
        doc! {"_id": 4, "airport": "LHR", "connects": ["PWM"]},
    ];
    let colls = Colls::new(&[("airports", airports)]);
    let out = run_with(
        bson!([{"$graphLookup": {"from": "airports", "startWith": "$nearestAirport", "connectFromField": "connects",
            "connectToField": "airport", "maxDepth": 2, "depthField": "numConnections", "as": "destinations"}}]),
        vec![doc! {"_id": 1, "name": "Dev", "nearestAirport": "JFK"}, doc! {"_id": 3, "name": "Jeff", "nearestAirport": "BOS"}],
        &colls,
    )
    .unwrap();
    let depths = |d: &Document| -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = d
            .get_array("destinations")
            .unwrap()
            .iter()
            .map(|x| {
                let x = x.as_document().unwrap();
                (x.get_str("airport").unwrap().to_string(), x.get_i64("numConnections").unwrap())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(depths(&out[0]), vec![("BOS".into(), 1), ("JFK".into(), 0), ("ORD".into(), 1), ("PWM".into(), 2)]);
    assert_eq!(depths(&out[1]), vec![("BOS".into(), 0), ("JFK".into(), 1), ("LHR".into(), 2), ("ORD".into(), 2), ("PWM".into(), 1)]);

    // restrictSearchWithMatch (the manual's golf example).
    let people = vec![
        doc! {"_id": 1, "name": "Tanya Jordan", "friends": ["Shirley Soto", "Terry Hawkins", "Carole Hale"], "hobbies": ["tennis", "unicycling", "golf"]},
        doc! {"_id": 2, "name": "Carole Hale", "friends": ["Joseph Dennis", "Tanya Jordan", "Terry Hawkins"], "hobbies": ["archery", "golf", "woodworking"]},
        doc! {"_id": 3, "name": "Terry Hawkins", "friends": ["Tanya Jordan", "Carole Hale", "Angelo Ward"], "hobbies": ["knitting", "frisbee"]},
        doc! {"_id": 4, "name": "Joseph Dennis", "friends": ["Angelo Ward", "Carole Hale"], "hobbies": ["tennis", "golf", "topiary"]},
        doc! {"_id": 5, "name": "Angelo Ward", "friends": ["Terry Hawkins", "Shirley Soto", "Joseph Dennis"], "hobbies": ["travel", "ceramics", "golf"]},
        doc! {"_id": 6, "name": "Shirley Soto", "friends": ["Angelo Ward", "Tanya Jordan", "Carole Hale"], "hobbies": ["frisbee", "set theory"]},
    ];
    let colls = Colls::new(&[("people", people.clone())]);
    let out = run_with(
        bson!([
            {"$match": {"name": "Tanya Jordan"}},
            {"$graphLookup": {"from": "people", "startWith": "$friends", "connectFromField": "friends", "connectToField": "name",
                "as": "golfers", "restrictSearchWithMatch": {"hobbies": "golf"}}},
            {"$project": {"name": 1, "friends": 1, "connections who play golf": "$golfers.name"}}
        ]),
        people,
        &colls,
    )
    .unwrap();
    let mut golfers: Vec<String> =
        out[0].get_array("connections who play golf").unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    golfers.sort();
    assert_eq!(golfers, vec!["Angelo Ward", "Carole Hale", "Joseph Dennis", "Tanya Jordan"]);

    let p = parse(bson!([{"$graphLookup": {"from": "g", "startWith": "$a", "connectFromField": "a", "connectToField": "b", "as": "c"}}]))
        .unwrap();
    assert_eq!(p.foreign_collections(), vec!["g"]);
    assert_eq!(parse_err(bson!([{"$graphLookup": {"from": "g", "startWith": "$a", "connectFromField": "a", "as": "c"}}])).code, 40105);
    assert_eq!(
        parse_err(bson!([{"$graphLookup": {"from": "g", "startWith": "$a", "connectFromField": "a", "connectToField": "b", "as": "c", "maxDepth": -1}}])).code,
        40101
    );
    assert_eq!(parse_err(bson!([{"$graphLookup": {"from": "g", "x": 1}}])).code, 40104);
}

#[test]
fn window_bounds_do_not_overflow() {
    let docs: Vec<Document> = (0..3).map(|i| doc! {"_id": i, "v": i}).collect();
    let out = run(
        bson!([{"$setWindowFields": {"sortBy": {"v": 1}, "output": {
            "a": {"$sum": "$v", "window": {"documents": [i64::MIN, i64::MAX]}},
            "b": {"$sum": "$v", "window": {"documents": [i64::MAX - 1, i64::MAX]}},
            "c": {"$shift": {"output": "$v", "by": i64::MAX}},
            "d": {"$shift": {"output": "$v", "by": i64::MIN}},
            "e": {"$sum": "$v", "window": {"range": [-1e308, 1e308]}}
        }}}]),
        docs,
    )
    .unwrap();
    assert_eq!(out[1], doc! {"_id": 1, "v": 1, "a": 3, "b": 0, "c": null, "d": null, "e": 3});
}

/// Arbitrary stage specifications and documents never panic: every stage either parses or
/// fails with an error, and every parsed pipeline runs or fails with an error.
mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Bson> {
        prop_oneof![
            Just(Bson::Null),
            (-3i32..4).prop_map(Bson::Int32),
            Just(Bson::Int64(i64::MAX)),
            Just(Bson::Double(2.5)),
            Just(Bson::Boolean(true)),
            prop_oneof![Just("$a"), Just("$b.c"), Just("a"), Just("$$ROOT"), Just("current"), Just("unbounded"), Just("day")]
                .prop_map(|s| Bson::String(s.into())),
            Just(Bson::DateTime(bson::DateTime::from_millis(1_600_000_000_000))),
        ]
    }

    fn value() -> impl Strategy<Value = Bson> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            let keys = prop_oneof![
                Just("a"),
                Just("b"),
                Just("_id"),
                Just("$sum"),
                Just("$push"),
                Just("$top"),
                Just("n"),
                Just("input"),
                Just("sortBy"),
                Just("output"),
                Just("window"),
                Just("documents"),
                Just("method"),
                Just("value"),
                Just("path"),
                Just("from"),
                Just("as"),
                Just("localField"),
                Just("foreignField"),
                Just("pipeline"),
                Just("groupBy"),
                Just("boundaries"),
                Just("buckets"),
                Just("$add"),
                Just("$dateTrunc"),
                Just("unit"),
                Just("date"),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                prop::collection::vec((keys, inner), 0..4).prop_map(|kv| {
                    let mut d = Document::new();
                    for (k, v) in kv {
                        d.insert(k, v);
                    }
                    Bson::Document(d)
                }),
            ]
        })
    }

    fn stage() -> impl Strategy<Value = Bson> {
        let names = prop_oneof![
            Just("$group"),
            Just("$unwind"),
            Just("$lookup"),
            Just("$graphLookup"),
            Just("$unionWith"),
            Just("$facet"),
            Just("$bucket"),
            Just("$bucketAuto"),
            Just("$sortByCount"),
            Just("$setWindowFields"),
            Just("$fill"),
            Just("$densify"),
            Just("$redact"),
            Just("$sample"),
            Just("$merge"),
            Just("$out"),
            Just("$project"),
            Just("$addFields"),
            Just("$sort"),
            Just("$limit"),
        ];
        (names, value()).prop_map(|(n, v)| Bson::Document(doc! {n: v}))
    }

    fn document() -> impl Strategy<Value = Document> {
        prop::collection::vec((prop_oneof![Just("a"), Just("b"), Just("_id")], value()), 0..4).prop_map(|kv| {
            let mut d = Document::new();
            for (k, v) in kv {
                d.insert(k, v);
            }
            d
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        #[test]
        fn arbitrary_pipelines_never_panic(stages in prop::collection::vec(stage(), 1..3), docs in prop::collection::vec(document(), 0..5)) {
            if let Ok(p) = Pipeline::parse(&stages, &vars()) {
                let colls = Colls::new(&[("a", docs.clone()), ("current", docs.clone())]);
                let _ = p.run_with(Box::new(docs.into_iter()), &colls);
            }
        }
    }

    /// Well-formed stages over arbitrary documents.
    #[test]
    fn known_pipelines_over_arbitrary_documents_never_panic() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let pipelines = [
            bson!([{"$group": {"_id": "$a", "s": {"$sum": "$b"}, "t": {"$topN": {"n": 2, "sortBy": {"b": -1}, "output": "$b"}}, "m": {"$mergeObjects": "$b"}}}]),
            bson!([{"$unwind": {"path": "$a", "includeArrayIndex": "b.i", "preserveNullAndEmptyArrays": true}}]),
            bson!([{"$lookup": {"from": "a", "localField": "a.b", "foreignField": "b", "as": "a.c"}}]),
            bson!([{"$graphLookup": {"from": "a", "startWith": "$a", "connectFromField": "b", "connectToField": "a", "as": "g", "maxDepth": 3}}]),
            bson!([{"$bucketAuto": {"groupBy": "$a", "buckets": 3}}]),
            bson!([{"$bucket": {"groupBy": "$a", "boundaries": [-1, 0, 2], "default": "x"}}]),
            bson!([{"$setWindowFields": {"partitionBy": "$b", "sortBy": {"a": 1}, "output": {"r": {"$rank": {}}, "s": {"$push": "$a", "window": {"documents": [-1, 1]}}}}}]),
            bson!([{"$redact": {"$cond": [{"$eq": ["$a", 1]}, "$$PRUNE", "$$DESCEND"]}}]),
            bson!([{"$facet": {"x": [{"$sortByCount": "$a"}], "y": [{"$sample": {"size": 2}}]}}]),
        ];
        let mut runner = TestRunner::default();
        for _ in 0..300 {
            let docs: Vec<Document> = prop::collection::vec(document(), 0..6).new_tree(&mut runner).unwrap().current();
            for p in &pipelines {
                let colls = Colls::new(&[("a", docs.clone())]);
                let _ = run_with(p.clone(), docs.clone(), &colls);
            }
        }
    }
}

#[test]
fn percentile_and_median_accumulators() {
    let docs: Vec<Document> = [(1, 62), (1, 81), (1, 80), (1, 75), (1, 68), (2, 90)].iter().map(|(g, s)| doc! {"g": *g, "s": *s}).collect();
    let out = run(
        bson!([{"$group": {"_id": "$g", "p": {"$percentile": {"input": "$s", "p": [0.25, 0.5, 0.75], "method": "approximate"}},
            "m": {"$median": {"input": "$s", "method": "approximate"}}}}]),
        docs.clone(),
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"_id": 1, "p": [68.0, 75.0, 80.0], "m": 75.0}, doc! {"_id": 2, "p": [90.0, 90.0, 90.0], "m": 90.0}]);
    // As a window function.
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": "$g", "sortBy": {"s": 1}, "output": {"m": {"$median": {"input": "$s", "method": "approximate"}, "window": {"documents": ["unbounded", "current"]}}}}}]),
        docs,
    )
    .unwrap();
    assert_eq!(out.iter().map(|d| d.get_f64("m").unwrap()).collect::<Vec<_>>(), vec![62.0, 62.0, 68.0, 68.0, 75.0, 90.0]);
    assert_eq!(
        parse_err(bson!([{"$group": {"_id": null, "p": {"$percentile": {"input": "$s", "p": [], "method": "approximate"}}}}])).code,
        7750301
    );
}

#[test]
fn fill_from_the_manual() {
    let daily = vec![
        doc! {"date": date("2022-02-02T00:00:00Z"), "bootsSold": 10, "sandalsSold": 20, "sneakersSold": 12},
        doc! {"date": date("2022-02-03T00:00:00Z"), "bootsSold": 7, "sneakersSold": 18},
        doc! {"date": date("2022-02-04T00:00:00Z"), "sneakersSold": 5},
    ];
    let out =
        run(bson!([{"$fill": {"output": {"bootsSold": {"value": 0}, "sandalsSold": {"value": 0}, "sneakersSold": {"value": 0}}}}]), daily)
            .unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"date": date("2022-02-02T00:00:00Z"), "bootsSold": 10, "sandalsSold": 20, "sneakersSold": 12},
            doc! {"date": date("2022-02-03T00:00:00Z"), "bootsSold": 7, "sneakersSold": 18, "sandalsSold": 0},
            doc! {"date": date("2022-02-04T00:00:00Z"), "sneakersSold": 5, "bootsSold": 0, "sandalsSold": 0},
        ]
    );
    let stock = vec![
        doc! {"time": date("2021-03-08T09:00:00Z"), "price": 500},
        doc! {"time": date("2021-03-08T10:00:00Z")},
        doc! {"time": date("2021-03-08T11:00:00Z"), "price": 515},
        doc! {"time": date("2021-03-08T12:00:00Z")},
        doc! {"time": date("2021-03-08T13:00:00Z")},
        doc! {"time": date("2021-03-08T14:00:00Z"), "price": 485},
    ];
    let out = run(bson!([{"$fill": {"sortBy": {"time": 1}, "output": {"price": {"method": "linear"}}}}]), stock.clone()).unwrap();
    let prices: Vec<f64> = out.iter().map(|d| as_f64(d.get("price").unwrap()).unwrap()).collect();
    assert_eq!(prices, vec![500.0, 507.5, 515.0, 505.0, 495.0, 485.0]);
    let out = run(bson!([{"$fill": {"sortBy": {"time": -1}, "output": {"price": {"method": "locf"}}}}]), stock).unwrap();
    assert_eq!(
        out.iter().map(|d| d.get("price").cloned().unwrap()).collect::<Vec<_>>(),
        vec![bson!(485), bson!(485), bson!(485), bson!(515), bson!(515), bson!(500)]
    );
    // Partitions; leading gaps stay as they are for locf.
    let docs = vec![
        doc! {"g": 1, "t": 1},
        doc! {"g": 2, "t": 1, "v": 9},
        doc! {"g": 1, "t": 2, "v": 3},
        doc! {"g": 1, "t": 3},
        doc! {"g": 2, "t": 2},
    ];
    let out = run(bson!([{"$fill": {"partitionByFields": ["g"], "sortBy": {"t": 1}, "output": {"v": {"method": "locf"}}}}]), docs).unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"g": 1, "t": 1},
            doc! {"g": 1, "t": 2, "v": 3},
            doc! {"g": 1, "t": 3, "v": 3},
            doc! {"g": 2, "t": 1, "v": 9},
            doc! {"g": 2, "t": 2, "v": 9}
        ]
    );
    assert_eq!(parse_err(bson!([{"$fill": {"output": {"v": {"method": "locf"}}}}])).code, 6050201);
    assert_eq!(
        parse_err(bson!([{"$fill": {"partitionBy": "$a", "partitionByFields": ["a"], "output": {"v": {"value": 1}}}}])).code,
        6050204
    );
    assert_eq!(parse_err(bson!([{"$fill": {"sortBy": {"a": 1}, "output": {"v": {"method": "nope"}}}}])).code, 6050202);
    assert_eq!(parse_err(bson!([{"$fill": {"sortBy": {"a": 1}}}])).code, 40414);
}

#[test]
fn densify_from_the_manual() {
    let weather: Vec<Document> = [("00", 12), ("04", 11), ("08", 11), ("12", 12)]
        .iter()
        .map(|(h, t)| doc! {"metadata": {"sensorId": 5578, "type": "temperature"}, "timestamp": date(&format!("2021-05-18T{h}:00:00Z")), "temp": *t})
        .collect();
    let out = run(
        bson!([{"$densify": {"field": "timestamp", "range": {"step": 1, "unit": "hour",
            "bounds": [date("2021-05-18T00:00:00Z"), date("2021-05-18T08:00:00Z")]}}}]),
        weather.clone(),
    )
    .unwrap();
    let stamps: Vec<String> = out.iter().map(|d| d.get_datetime("timestamp").unwrap().try_to_rfc3339_string().unwrap()).collect();
    assert_eq!(
        stamps,
        [
            "2021-05-18T00:00:00Z",
            "2021-05-18T01:00:00Z",
            "2021-05-18T02:00:00Z",
            "2021-05-18T03:00:00Z",
            "2021-05-18T04:00:00Z",
            "2021-05-18T05:00:00Z",
            "2021-05-18T06:00:00Z",
            "2021-05-18T07:00:00Z",
            "2021-05-18T08:00:00Z",
            "2021-05-18T12:00:00Z"
        ]
    );
    assert_eq!(out[1], doc! {"timestamp": date("2021-05-18T01:00:00Z")});
    assert_eq!(out[0], weather[0]);

    let coffee = vec![
        doc! {"altitude": 600, "variety": "Arabica Typica", "score": 68.3},
        doc! {"altitude": 750, "variety": "Arabica Typica", "score": 69.5},
        doc! {"altitude": 950, "variety": "Arabica Typica", "score": 70.5},
        doc! {"altitude": 1250, "variety": "Gesha", "score": 88.15},
        doc! {"altitude": 1700, "variety": "Gesha", "score": 95.5, "price": 1029},
    ];
    let altitudes = |out: &[Document]| -> Vec<(String, i32)> {
        out.iter().map(|d| (d.get_str("variety").unwrap().to_string(), d.get_i32("altitude").unwrap())).collect()
    };
    let out = run(
        bson!([{"$densify": {"field": "altitude", "partitionByFields": ["variety"], "range": {"bounds": "full", "step": 200}}}]),
        coffee.clone(),
    )
    .unwrap();
    let a = |v: &str, xs: &[i32]| xs.iter().map(|x| (v.to_string(), *x)).collect::<Vec<_>>();
    let mut expected = a("Arabica Typica", &[600, 750, 800, 950, 1000, 1200, 1400, 1600]);
    expected.extend(a("Gesha", &[600, 800, 1000, 1200, 1250, 1400, 1600, 1700]));
    assert_eq!(altitudes(&out), expected);
    assert_eq!(out[2], doc! {"variety": "Arabica Typica", "altitude": 800});
    let out = run(
        bson!([{"$densify": {"field": "altitude", "partitionByFields": ["variety"], "range": {"bounds": "partition", "step": 200}}}]),
        coffee,
    )
    .unwrap();
    let mut expected = a("Arabica Typica", &[600, 750, 800, 950]);
    expected.extend(a("Gesha", &[1250, 1450, 1650, 1700]));
    assert_eq!(altitudes(&out), expected);
    // Documents without the field pass through; far-away values do not loop.
    let out = run(bson!([{"$densify": {"field": "x", "range": {"bounds": [0, 0], "step": 1e-9}}}]), vec![doc! {"x": 1e12}, doc! {"y": 1}])
        .unwrap();
    assert_eq!(out, vec![doc! {"y": 1}, doc! {"x": 1e12}]);
    let e = run(bson!([{"$densify": {"field": "x", "range": {"bounds": "full", "step": 1e-9}}}]), vec![doc! {"x": 0}, doc! {"x": 1}])
        .unwrap_err();
    assert_eq!(e.code, 5897900);
    assert_eq!(parse_err(bson!([{"$densify": {"field": "x", "range": {"bounds": "full", "step": 0}}}])).code, 5733401);
    assert_eq!(parse_err(bson!([{"$densify": {"range": {"bounds": "full", "step": 1}}}])).code, 40414);
    assert_eq!(
        run(bson!([{"$densify": {"field": "x", "range": {"bounds": "full", "step": 1}}}]), vec![doc! {"x": "a"}]).unwrap_err().code,
        5733201
    );
}

fn field(out: &[Document], name: &str) -> Vec<Bson> {
    out.iter().map(|d| d.get(name).cloned().unwrap_or(Bson::Null)).collect()
}

fn approx(got: &[Bson], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        let g = as_f64(g).unwrap_or_else(|| panic!("not a number: {g:?}"));
        assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
    }
}

#[test]
fn window_exp_moving_avg_from_the_manual() {
    // $expMovingAvg page, stockPrices with N: 2 (alpha 2/3), then alpha: 0.75
    let docs: Vec<Document> =
        [13.0, 15.4, 12.0, 11.7].iter().enumerate().map(|(i, p)| doc! {"_id": i as i32, "stock": "ABC", "price": *p}).collect();
    let out = run(
        bson!([{"$setWindowFields": {"partitionBy": "$stock", "sortBy": {"_id": 1}, "output": {
            "n": {"$expMovingAvg": {"input": "$price", "N": 2}},
            "a": {"$expMovingAvg": {"input": "$price", "alpha": 0.75}},
        }}}]),
        docs,
    )
    .unwrap();
    approx(&field(&out, "n"), &[13.0, 14.6, 12.866666666666667, 12.088888888888889]);
    approx(&field(&out, "a"), &[13.0, 14.8, 12.7, 11.95]);
    // N and alpha are exclusive; N must be a positive integer; sortBy is required
    parse_err(
        bson!([{"$setWindowFields": {"sortBy": {"_id": 1}, "output": {"x": {"$expMovingAvg": {"input": "$p", "N": 2, "alpha": 0.5}}}}}]),
    );
    parse_err(bson!([{"$setWindowFields": {"sortBy": {"_id": 1}, "output": {"x": {"$expMovingAvg": {"input": "$p", "N": 0}}}}}]));
    parse_err(bson!([{"$setWindowFields": {"output": {"x": {"$expMovingAvg": {"input": "$p", "N": 2}}}}}]));
}

#[test]
fn window_derivative_integral_and_covariance() {
    let hour = 3_600_000_i64;
    let docs: Vec<Document> = [1, 3, 5, 9]
        .iter()
        .enumerate()
        .map(|(i, kw)| doc! {"_id": i as i32, "t": bson::DateTime::from_millis(i as i64 * hour), "kw": *kw, "x": i as i32})
        .collect();
    let out = run(
        bson!([{"$setWindowFields": {"sortBy": {"t": 1}, "output": {
            "rate": {"$derivative": {"input": "$kw", "unit": "hour"}, "window": {"range": [-1, 0], "unit": "hour"}},
            "rate2": {"$derivative": {"input": "$kw", "unit": "minute"}, "window": {"documents": [-2, 0]}},
            "kwh": {"$integral": {"input": "$kw", "unit": "hour"}, "window": {"range": ["unbounded", "current"], "unit": "hour"}},
            "pop": {"$covariancePop": ["$x", "$kw"], "window": {"documents": [-1, 0]}},
            "samp": {"$covarianceSamp": ["$x", "$kw"]},
        }}}]),
        docs,
    )
    .unwrap();
    assert_eq!(field(&out, "rate")[0], Bson::Null);
    approx(&field(&out, "rate")[1..], &[2.0, 2.0, 4.0]);
    approx(&field(&out, "rate2")[1..], &[2.0 / 60.0, 2.0 / 60.0, 3.0 / 60.0]);
    approx(&field(&out, "kwh"), &[0.0, 2.0, 6.0, 13.0]);
    assert_eq!(field(&out, "pop")[0], Bson::Double(0.0));
    approx(&field(&out, "pop")[1..], &[0.5, 0.5, 1.0]);
    // x: 0..3 (mean 1.5), kw: 1,3,5,9 (mean 4.5): 5.25 + 0.75 + 0.25 + 6.75 = 13
    approx(&field(&out, "samp"), &[13.0 / 3.0; 4]);
    // $derivative needs a window; a date sortBy needs a unit
    parse_err(bson!([{"$setWindowFields": {"sortBy": {"t": 1}, "output": {"r": {"$derivative": {"input": "$kw"}}}}}]));
    assert!(run(
        bson!([{"$setWindowFields": {"sortBy": {"t": 1}, "output": {"r": {"$integral": {"input": "$kw"}, "window": {"documents": [-1, 0]}}}}}]),
        vec![doc! {"t": bson::DateTime::from_millis(0), "kw": 1}]
    )
    .is_err());
}

#[test]
fn window_linear_fill_and_rank_sort_fields() {
    // $linearFill page
    let docs: Vec<Document> = [Some(500), None, Some(515), None, None, Some(485)]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut d = doc! {"_id": i as i32, "time": i as i32};
            if let Some(p) = p {
                d.insert("price", *p);
            }
            d
        })
        .collect();
    let out = run(bson!([{"$setWindowFields": {"sortBy": {"time": 1}, "output": {"price": {"$linearFill": "$price"}}}}]), docs).unwrap();
    approx(&field(&out, "price"), &[500.0, 507.5, 515.0, 505.0, 495.0, 485.0]);
    parse_err(bson!([{"$setWindowFields": {"output": {"p": {"$linearFill": "$p"}}}}]));
    // $rank page: sortBy can only take one field
    assert_eq!(parse_err(bson!([{"$setWindowFields": {"sortBy": {"a": 1, "b": 1}, "output": {"r": {"$rank": {}}}}}])).code, 5371602);
}

#[test]
fn densify_dates_chain_month_steps() {
    // each generated date is the previous plus one month ($dateAdd clamps the day)
    let day = |y: i32, m: u8, d: u8| bson::DateTime::builder().year(y).month(m).day(d).build().unwrap();
    let out = run(
        bson!([{"$densify": {"field": "t", "range": {"step": 1, "unit": "month", "bounds": "full"}}}]),
        vec![doc! {"t": day(2021, 1, 31)}, doc! {"t": day(2021, 5, 1)}],
    )
    .unwrap();
    let got: Vec<Bson> = field(&out, "t");
    let want: Vec<Bson> =
        [day(2021, 1, 31), day(2021, 2, 28), day(2021, 3, 28), day(2021, 4, 28), day(2021, 5, 1)].into_iter().map(Bson::DateTime).collect();
    assert_eq!(got, want);
}

#[test]
fn bucket_auto_granularity_from_the_manual() {
    // $bucketAuto page, "Comparing Different Granularities": _id 0..99 in 5 buckets
    let docs: Vec<Document> = (0..100).map(|i| doc! {"_id": i}).collect();
    let buckets = |g: &str| -> Vec<(f64, f64, i32)> {
        run(bson!([{"$bucketAuto": {"groupBy": "$_id", "buckets": 5, "granularity": g}}]), docs.clone())
            .unwrap()
            .iter()
            .map(|d| {
                let id = d.get_document("_id").unwrap();
                (as_f64(id.get("min").unwrap()).unwrap(), as_f64(id.get("max").unwrap()).unwrap(), d.get_i32("count").unwrap())
            })
            .collect()
    };
    assert_eq!(buckets("R20"), vec![(0.0, 20.0, 20), (20.0, 40.0, 20), (40.0, 63.0, 23), (63.0, 90.0, 27), (90.0, 100.0, 10)]);
    assert_eq!(buckets("E24"), vec![(0.0, 20.0, 20), (20.0, 43.0, 23), (43.0, 68.0, 25), (68.0, 91.0, 23), (91.0, 100.0, 9)]);
    assert_eq!(buckets("1-2-5"), vec![(0.0, 20.0, 20), (20.0, 50.0, 30), (50.0, 100.0, 50)]);
    assert_eq!(buckets("POWERSOF2"), vec![(0.0, 32.0, 32), (32.0, 64.0, 32), (64.0, 128.0, 36)]);
    // rounding: strictly up / strictly down, across decades
    let g = Granularity::Series(E6);
    assert_eq!(g.round_up(&Bson::Double(0.8)), Bson::Double(1.0));
    assert_eq!(g.round_up(&Bson::Int32(10)), Bson::Double(15.0));
    // 68 * 0.1 in doubles, as mongod computes it (not exactly 6.8)
    assert_eq!(g.round_down(&Bson::Int32(10)), Bson::Double(68.0 * 0.1));
    assert_eq!(Granularity::PowersOf2.round_up(&Bson::Int32(8)), Bson::Int32(16));
    assert_eq!(Granularity::PowersOf2.round_down(&Bson::Int32(8)), Bson::Int32(4));
    assert_eq!(Granularity::PowersOf2.round_down(&Bson::Int32(0)), Bson::Int32(0));
    // only non-negative numbers; known series names only
    let err = |docs: Vec<Document>, g: &str| {
        run(bson!([{"$bucketAuto": {"groupBy": "$x", "buckets": 2, "granularity": g}}]), docs).unwrap_err().code
    };
    assert_eq!(err(vec![doc! {"x": -1}], "R5"), 40260);
    assert_eq!(err(vec![doc! {"x": "a"}], "R5"), 40258);
    assert_eq!(parse_err(bson!([{"$bucketAuto": {"groupBy": "$x", "buckets": 2, "granularity": "R7"}}])).code, 40257);
}

#[test]
fn match_sample_rate() {
    // $sampleRate page: 1 keeps every document, 0 none; beside other conditions and $expr
    let docs: Vec<Document> = (0..50).map(|i| doc! {"_id": i}).collect();
    assert_eq!(run(bson!([{"$match": {"$sampleRate": 1.0}}]), docs.clone()).unwrap().len(), 50);
    assert_eq!(run(bson!([{"$match": {"$sampleRate": 0}}]), docs.clone()).unwrap().len(), 0);
    let some = run(bson!([{"$match": {"_id": {"$lt": 10}, "$expr": {"$gte": ["$_id", 5]}, "$sampleRate": 1}}]), docs.clone()).unwrap();
    assert_eq!(some.len(), 5);
    assert!(run(bson!([{"$match": {"$sampleRate": 0.5}}]), docs).unwrap().len() <= 50);
    assert_eq!(parse_err(bson!([{"$match": {"$sampleRate": 1.5}}])).code, 2);
    assert_eq!(parse_err(bson!([{"$match": {"$sampleRate": "x"}}])).code, 2);
}

#[test]
fn lookup_and_union_with_documents_instead_of_a_collection() {
    // $documents page: $lookup without "from"
    let out = run(
        bson!([{"$lookup": {"localField": "zip", "foreignField": "zip_id", "as": "c",
            "pipeline": [{"$documents": [{"zip_id": 1, "n": "a"}, {"zip_id": 2, "n": "b"}]}, {"$project": {"_id": 0, "n": 1}}]}}]),
        vec![doc! {"zip": 2}, doc! {"zip": 3}],
    )
    .unwrap();
    assert_eq!(out, vec![doc! {"zip": 2, "c": [{"n": "b"}]}, doc! {"zip": 3, "c": []}]);
    // $unionWith without "coll"
    let out = run(bson!([{"$unionWith": {"pipeline": [{"$documents": [{"x": 2}]}]}}]), vec![doc! {"x": 1}]).unwrap();
    assert_eq!(out, vec![doc! {"x": 1}, doc! {"x": 2}]);
    // without $documents first, "from"/"coll" is required
    parse_err(bson!([{"$lookup": {"as": "c", "pipeline": [{"$match": {}}]}}]));
    assert_eq!(parse_err(bson!([{"$unionWith": {"pipeline": [{"$match": {}}]}}])).code, 40414);
    assert!(parse(bson!([{"$lookup": {"as": "c", "pipeline": [{"$documents": []}]}}])).unwrap().foreign_collections().is_empty());
}

#[test]
fn coll_stats_and_index_stats_parse() {
    // $collStats / $indexStats pages: first stage only, known options only; their documents
    // come from the caller (the aggregate command), so running them here fails
    let p = parse(bson!([{"$collStats": {"count": {}, "storageStats": {"scale": 1024}}}, {"$project": {"count": 1}}])).unwrap();
    assert!(matches!(p.stats_source(), Some(Stage::CollStats(CollStats { count: true, storage_scale: Some(1024) }))));
    assert!(matches!(parse(bson!([{"$indexStats": {}}])).unwrap().stats_source(), Some(Stage::IndexStats)));
    assert!(p.run(Box::new(std::iter::empty())).is_err());
    assert_eq!(parse_err(bson!([{"$match": {}}, {"$collStats": {"count": {}}}])).code, 40602);
    assert_eq!(parse_err(bson!([{"$indexStats": {"x": 1}}])).code, 28803);
    assert_eq!(parse_err(bson!([{"$collStats": {"latencyStats": {}}}])).code, codes::NOT_IMPLEMENTED);
    assert_eq!(parse_err(bson!([{"$collStats": {"storageStats": {"scale": 0}}}])).code, 51024);
    assert_eq!(parse_err(bson!([{"$facet": {"a": [{"$indexStats": {}}]}}])).code, 40602);
}

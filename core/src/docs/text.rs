//! Text indexes and `$text`: MongoDB's text search semantics (text index version 3), as pure
//! functions over index definitions, `$text` operands and stored documents.
//!
//! Owns: `TextSpec`, a text index's definition (`parse` from a createIndexes spec, `to_options`
//! and `index_key` for listIndexes, `terms`: a document's index terms with its score for each),
//! and `TextQuery`, a parsed `$text` operand (`positive_terms` for the index lookup, `accepts`
//! for phrases, negations and `$caseSensitive`/`$diacriticSensitive`, `score` for
//! `{$meta: "textScore"}`). Index storage and planning belong to the caller.
//!
//! Semantics (MongoDB's `src/mongo/db/fts`, where the manual is silent):
//! - Tokens: a string is cut at delimiters (code points with the Unicode properties White_Space,
//!   Dash, Hyphen, Quotation_Mark, Terminal_Punctuation, Pattern_Syntax or Sentence_Terminal:
//!   all ASCII punctuation but `_`, and the apostrophe only for languages other than English, so
//!   "don't" is one English token). Each token is lower-cased (Turkish: `I` -> `ı`), dropped if
//!   it is a stop word of its language (compared lower-cased, diacritics kept), stemmed by the
//!   language's Snowball stemmer (language "none": no stop words, no stemming), then
//!   diacritic-folded (code points with the Unicode Diacritic property removed, precomposed
//!   letters mapped to their base letter: "Café" -> "cafe"). `$caseSensitive` keeps the case
//!   (and stems the cased word), `$diacriticSensitive` skips the folding; neither changes the
//!   index terms, only what `accepts` compares.
//! - Languages: danish dutch english finnish french german hungarian italian norwegian
//!   portuguese romanian russian spanish swedish turkish, by name or ISO 639-1 code, in any
//!   case, and "none". The stop-word lists are MongoDB's (mostly the Snowball project's).
//! - Indexed strings: the fields named by the weights, strings in arrays along the path and in
//!   arrays of documents (not arrays nested in arrays); every string field at any depth for a
//!   wildcard (`"$**"`) index, except fields named like the language override. A document's
//!   (and each embedded document's) language is its `language_override` field, else its
//!   parent's, else `default_language`; an unsupported override is error 17262, a non-string
//!   one 17261, as MongoDB fails such inserts.
//! - Score (fts_spec.cpp `scoreDocument`): for each indexed string and each distinct term of it,
//!   `weight * freq * (0.5 * count / tokens + 0.5) * exact`, where `count` is the term's
//!   occurrences, `tokens` the string's tokens left after stop words, `freq` = 1 + 1/2 + 1/4...
//!   (one halving term per occurrence), `exact` 1.1 when the term equals the whole string
//!   (ASCII case-insensitively) else 1; summed over the strings per term. A document's
//!   textScore for a query is the sum of its scores for the query's distinct positive terms.
//!   For a wildcard index a string's weight is that of the first weighted path at or after its
//!   own in byte order (1 past the last), as MongoDB's element iterator does.
//! - `$search` (fts_query_impl.cpp): words are split at spaces (not tabs) and the language's
//!   delimiters; `"..."` is a phrase (its words are also positive terms); `-` right after a
//!   space (or at the start) negates up to the next space: `-word`, `-"a phrase"`; a `-` inside
//!   a word only splits it. A candidate must contain every positive phrase (case- and
//!   diacritic-insensitive substring unless the query says otherwise), no negated term, no
//!   negated phrase and, when case- or diacritic-sensitive, one positive term in that form.
//!
//! Invariants: `TextSpec::weights` is sorted by path, paths are unique, weights are in
//! 1..=99999, and `"$**"` is among them exactly for a wildcard index; `terms` returns distinct
//! terms in ascending order, every score positive. Nothing here panics on user input: walks
//! over documents use an explicit stack (any nesting depth), strings of any size are handled
//! in linear passes, and malformed BSON is an InternalError.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use bson::{doc, Bson, Document, RawBsonRef, RawDocument};
use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::{compose, decompose_canonical};

use super::error::codes;
use super::value::{decimal_to_f64, raw_error, type_name};
use super::DocError;

/// The weights key (and `key` field) of a text index over every string field.
pub const WILDCARD: &str = "$**";
/// The only text index version created and accepted.
pub const TEXT_INDEX_VERSION: i32 = 3;
const DEFAULT_LANGUAGE: &str = "english";
const DEFAULT_LANGUAGE_OVERRIDE: &str = "language";
/// Weights lie in the open interval (0, MAX_WORD_WEIGHT) (fts_spec.cpp).
const MAX_WORD_WEIGHT: i32 = 100_000;
/// MongoDB's CannotCreateIndex (error.rs has no constant for it).
const CANNOT_CREATE_INDEX: i32 = 67;

fn cannot_create_index(message: impl Into<String>) -> DocError {
    DocError::new(CANNOT_CREATE_INDEX, "CannotCreateIndex", message)
}

/// A text index's definition: which fields (dotted paths, or "$**" for every string field) with
/// which weights, and the language settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TextSpec {
    /// Path -> weight (default 1), sorted by path.
    pub weights: Vec<(String, i32)>,
    /// Default "english".
    pub default_language: String,
    /// Default "language".
    pub language_override: String,
}

impl TextSpec {
    /// From a createIndexes index spec: `key` is the index's key document, where text fields have
    /// the value "text" (`{title: "text", body: "text"}`, `{"$**": "text"}`, or the stored form
    /// `{_fts: "text", _ftsx: 1}`); `options` is the whole index spec document (`weights`,
    /// `default_language`, `language_override`, `textIndexVersion`; other fields are ignored).
    /// Errors are 67 CannotCreateIndex with MongoDB's `fixSpec` messages; a key field whose value
    /// is not "text" is one too (compound text indexes are the caller's business).
    pub fn parse(key: &Document, options: &Document) -> Result<TextSpec, DocError> {
        let mut weights: BTreeMap<String, i32> = BTreeMap::new();
        for (name, value) in key {
            match name.as_str() {
                "_fts" => {
                    if !matches!(value, Bson::String(s) if s == "text") {
                        return Err(cannot_create_index("expecting _fts:\"text\""));
                    }
                }
                "_ftsx" => {
                    if number_int(value) != Some(1) {
                        return Err(cannot_create_index("expecting _ftsx:1"));
                    }
                }
                _ => match value {
                    Bson::String(s) if s == "text" => {
                        weights.insert(name.clone(), 1);
                    }
                    _ => {
                        return Err(cannot_create_index(format!(
                            "text index key field '{name}' must have the value \"text\", found {value}: \
                             compound text indexes with non-text fields are not supported here"
                        )))
                    }
                },
            }
        }
        match options.get("weights") {
            None => {}
            Some(Bson::Document(w)) => {
                for (path, value) in w {
                    let weight = number_int(value).ok_or_else(|| cannot_create_index("weight for text index needs numeric type"))?;
                    weights.insert(path.clone(), weight);
                }
            }
            Some(Bson::String(s)) if s == WILDCARD => {
                weights.insert(WILDCARD.to_string(), 1);
            }
            Some(_) => return Err(cannot_create_index("text index option 'weights' must be an object")),
        }
        if weights.is_empty() {
            return Err(cannot_create_index("text index option 'weights' must specify fields or the wildcard"));
        }
        for (path, &weight) in &weights {
            if weight <= 0 || weight >= MAX_WORD_WEIGHT {
                return Err(cannot_create_index(format!(
                    "text index weight must be in the exclusive interval (0,{MAX_WORD_WEIGHT}) but found: {weight}"
                )));
            }
            if path != WILDCARD {
                if path.is_empty() {
                    return Err(cannot_create_index("weight cannot be on an empty field"));
                }
                for part in path.split('.') {
                    if part.is_empty() {
                        return Err(cannot_create_index("weight cannot have empty path component"));
                    }
                    if part.starts_with('$') {
                        return Err(cannot_create_index("weight cannot have path component with $ prefix"));
                    }
                }
            }
        }
        let default_language = match options.get("default_language") {
            None => DEFAULT_LANGUAGE.to_string(),
            Some(Bson::String(s)) => {
                if Language::parse(s).is_none() {
                    return Err(cannot_create_index("default_language is not valid"));
                }
                s.clone()
            }
            Some(_) => return Err(cannot_create_index("default_language needs a string type")),
        };
        let language_override = match options.get("language_override") {
            None => DEFAULT_LANGUAGE_OVERRIDE.to_string(),
            Some(Bson::String(s)) => {
                if s.is_empty() || s.starts_with('$') || s.contains('.') {
                    return Err(cannot_create_index("language_override is not valid"));
                }
                s.clone()
            }
            Some(_) => return Err(cannot_create_index("language_override must be a string")),
        };
        if let Some(version) = options.get("textIndexVersion") {
            match number_int(version) {
                None => return Err(cannot_create_index("text index option 'textIndexVersion' must be a number")),
                Some(TEXT_INDEX_VERSION) => {}
                Some(2) => {
                    return Err(cannot_create_index(format!(
                        "textIndexVersion 2 is not supported: text indexes are created with textIndexVersion {TEXT_INDEX_VERSION}"
                    )))
                }
                Some(v) => return Err(cannot_create_index(format!("bad textIndexVersion: {v}"))),
            }
        }
        Ok(TextSpec { weights: weights.into_iter().collect(), default_language, language_override })
    }

    /// The options to show in listIndexes for this index, as MongoDB shows them:
    /// `{weights: {...}, default_language, language_override, textIndexVersion: 3}`.
    pub fn to_options(&self) -> Document {
        let mut weights = Document::new();
        for (path, weight) in &self.weights {
            weights.insert(path.clone(), *weight);
        }
        doc! {
            "weights": weights,
            "default_language": self.default_language.clone(),
            "language_override": self.language_override.clone(),
            "textIndexVersion": TEXT_INDEX_VERSION,
        }
    }

    /// The key MongoDB shows (and stores) for a text index: `{_fts: "text", _ftsx: 1}`.
    /// `parse(&TextSpec::index_key(), &spec.to_options())` gives `spec` back.
    pub fn index_key() -> Document {
        doc! { "_fts": "text", "_ftsx": 1 }
    }

    /// Whether the index covers every string field (`"$**"`).
    pub fn is_wildcard(&self) -> bool {
        self.weights.iter().any(|(path, _)| path == WILDCARD)
    }

    /// The index terms of a stored document, each with the document's score for that term
    /// (see the module comment for the formula), one entry per distinct term, sorted by term.
    /// Empty for a document with no indexed words. Errors: 17261/17262 for a bad language
    /// override in the document (or an embedded document), InternalError for malformed BSON.
    pub fn terms(&self, doc: &RawDocument) -> Result<Vec<(String, f64)>, DocError> {
        let mut scores: BTreeMap<String, f64> = BTreeMap::new();
        let options = TokenOptions { filter_stop_words: true, case_sensitive: false, diacritic_sensitive: false };
        self.for_each_string(doc, |text, language, weight| {
            score_string(&Tokenizer::new(language, options), text, weight, &mut scores);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(scores.into_iter().collect())
    }

    /// The index's default language.
    fn language(&self) -> Result<Language, DocError> {
        Language::parse(&self.default_language).ok_or_else(|| {
            DocError::location(
                28682,
                format!(
                    "Unrecognized language {} found for text index. Verify mongod was started with the correct options.",
                    self.default_language
                ),
            )
        })
    }

    /// The language of `obj` (a document or array whose strings are being indexed): its
    /// language override field, else `inherited`.
    fn language_of(&self, obj: &RawDocument, inherited: Language) -> Result<Language, DocError> {
        match obj.get(&self.language_override).map_err(raw_error)? {
            None => Ok(inherited),
            Some(RawBsonRef::String(name)) => {
                Language::parse(name).ok_or_else(|| DocError::location(17262, format!("language override unsupported: {name}")))
            }
            Some(_) => Err(DocError::location(17261, "found language override field in document with non-string type")),
        }
    }

    /// Calls `visit(text, language, weight)` for every indexed string of `doc`, depth first in
    /// document order (MongoDB's `FTSElementIterator`), until it breaks.
    fn for_each_string<'a>(
        &self,
        doc: &'a RawDocument,
        mut visit: impl FnMut(&'a str, Language, f64) -> Result<ControlFlow<()>, DocError>,
    ) -> Result<(), DocError> {
        struct Frame<'a> {
            iter: bson::raw::RawIter<'a>,
            language: Language,
            parent: String,
            is_array: bool,
        }
        let wildcard = self.is_wildcard();
        let mut weights: Vec<(&str, f64)> =
            self.weights.iter().filter(|(path, _)| path != WILDCARD).map(|(path, w)| (path.as_str(), f64::from(*w))).collect();
        weights.sort_by(|a, b| a.0.cmp(b.0));
        let mut frame =
            Frame { iter: doc.iter_elements(), language: self.language_of(doc, self.language()?)?, parent: String::new(), is_array: false };
        let mut stack: Vec<Frame<'a>> = Vec::new();
        loop {
            let Some(element) = frame.iter.next() else {
                match stack.pop() {
                    Some(parent) => {
                        frame = parent;
                        continue;
                    }
                    None => return Ok(()),
                }
            };
            let element = element.map_err(raw_error)?;
            let name = element.key().as_str();
            if wildcard && name == self.language_override {
                continue;
            }
            let value = element.value().map_err(raw_error)?;
            let dotted = if frame.parent.is_empty() {
                name.to_string()
            } else if frame.is_array {
                frame.parent.clone()
            } else {
                format!("{}.{name}", frame.parent)
            };
            // The first weighted path that could be this field or below it (`lower_bound` of the
            // path, or of "path." for a document, in MongoDB's sorted weights map).
            let probe = match value {
                RawBsonRef::Document(_) => Cow::Owned(format!("{dotted}.")),
                _ => Cow::Borrowed(dotted.as_str()),
            };
            let at = weights.partition_point(|(path, _)| *path < &*probe);
            let candidate = weights.get(at);
            if !wildcard && !candidate.is_some_and(|(path, _)| *path == dotted || is_below(path, &dotted)) {
                continue;
            }
            let exact = candidate.is_some_and(|(path, _)| *path == dotted);
            let weight = candidate.map_or(1.0, |(_, w)| *w);
            match value {
                // Strings are indexed on an exact path match (any path for a wildcard index)...
                RawBsonRef::String(text) if exact || wildcard => {
                    let flow = visit(text, frame.language, weight)?;
                    if flow.is_break() {
                        return Ok(());
                    }
                }
                // ...documents entered on a proper prefix...
                RawBsonRef::Document(sub) if !exact || wildcard => {
                    let language = self.language_of(sub, frame.language)?;
                    let child = Frame { iter: sub.iter_elements(), language, parent: dotted, is_array: false };
                    stack.push(std::mem::replace(&mut frame, child));
                }
                // ...and arrays unless nested in an array.
                RawBsonRef::Array(array) if !frame.is_array || wildcard => {
                    let sub = RawDocument::from_bytes(array.as_bytes()).map_err(raw_error)?;
                    let language = self.language_of(sub, frame.language)?;
                    let child = Frame { iter: sub.iter_elements(), language, parent: dotted, is_array: true };
                    stack.push(std::mem::replace(&mut frame, child));
                }
                _ => {}
            }
        }
    }
}

/// Whether `path` is strictly below `prefix` (`"a.b"` is below `"a"`, `"ab"` is not).
fn is_below(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'))
}

/// MongoDB's `numberInt()` of a numeric option (saturating), None for other types.
fn number_int(value: &Bson) -> Option<i32> {
    let clamp = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    match value {
        Bson::Int32(v) => Some(*v),
        Bson::Int64(v) => Some(clamp(*v)),
        Bson::Double(v) => Some(*v as i32),
        Bson::Decimal128(d) => Some(decimal_to_f64(d) as i32),
        _ => None,
    }
}

/// Adds one indexed string's contribution to `scores` (fts_spec.cpp `_scoreStringV2`; the
/// floating-point operations are MongoDB's, in its order, so scores agree to the last bit).
fn score_string(tokenizer: &Tokenizer, raw: &str, weight: f64, scores: &mut BTreeMap<String, f64>) {
    struct Term {
        freq: f64,
        count: f64,
        exp: f64,
    }
    let mut terms: BTreeMap<String, Term> = BTreeMap::new();
    let mut tokens: u64 = 0;
    tokenizer.for_each(raw, |term| {
        let data = terms.entry(term).or_insert(Term { freq: 0.0, count: 0.0, exp: 0.0 });
        data.exp = if data.exp != 0.0 { data.exp * 2.0 } else { 1.0 };
        data.count += 1.0;
        data.freq += 1.0 / data.exp;
        tokens += 1;
        ControlFlow::Continue(())
    });
    for (term, data) in terms {
        // How much of the string the term is: the only word, or one among many?
        let coeff = (0.5 * data.count / tokens as f64) + 0.5;
        // A small boost when the term is the whole string.
        let adjustment = if raw.len() == term.len() && raw.eq_ignore_ascii_case(&term) { 1.0 + 0.1 } else { 1.0 };
        *scores.entry(term).or_insert(0.0) += weight * data.freq * coeff * adjustment;
    }
}

/// A parsed `$text` operand.
#[derive(Clone, Debug)]
pub struct TextQuery {
    search: String,
    language: Language,
    case_sensitive: bool,
    diacritic_sensitive: bool,
    /// The index lookup terms: positive words (phrases' included), folded, stemmed, sorted.
    terms_for_bounds: Vec<String>,
    /// The positive and negated words as the matcher compares them (the bounds form unless the
    /// query is case- or diacritic-sensitive).
    positive_terms: BTreeSet<String>,
    negated_terms: BTreeSet<String>,
    positive_phrases: Vec<String>,
    negated_phrases: Vec<String>,
}

impl TextQuery {
    /// Parses `{$search: "...", $language?: "...", $caseSensitive?: bool, $diacriticSensitive?:
    /// bool}` against `spec` (the collection's text index; its default language applies when
    /// `$language` is absent or empty). Errors as MongoDB: 4 NoSuchKey without `$search`, 14
    /// TypeMismatch for a field of the wrong type, 2 BadValue "extra fields in $text" for any
    /// other field, 2 BadValue "unsupported language: ..." for an unknown `$language`.
    pub fn parse(operand: &Document, spec: &TextSpec) -> Result<TextQuery, DocError> {
        fn wrong_type(field: &str, expected: &str, found: &Bson) -> DocError {
            DocError::type_mismatch(format!("\"{field}\" had the wrong type. Expected {expected}, found {}", type_name(found)))
        }
        let search = match operand.get("$search") {
            None => return Err(DocError::new(codes::NO_SUCH_KEY, "NoSuchKey", "Missing expected field \"$search\"")),
            Some(Bson::String(s)) => s.clone(),
            Some(other) => return Err(wrong_type("$search", "string", other)),
        };
        let mut expected_fields = 1;
        let language_name = match operand.get("$language") {
            None => None,
            Some(Bson::String(s)) => {
                expected_fields += 1;
                Some(s.as_str())
            }
            Some(other) => return Err(wrong_type("$language", "string", other)),
        };
        let mut flag = |field: &str| match operand.get(field) {
            None => Ok(false),
            Some(Bson::Boolean(b)) => {
                expected_fields += 1;
                Ok(*b)
            }
            Some(other) => Err(wrong_type(field, "bool", other)),
        };
        let case_sensitive = flag("$caseSensitive")?;
        let diacritic_sensitive = flag("$diacriticSensitive")?;
        if operand.len() != expected_fields {
            return Err(DocError::bad_value("extra fields in $text"));
        }
        let language = match language_name {
            Some(name) if !name.is_empty() => Language::parse(name).ok_or_else(|| Language::unsupported(name))?,
            _ => spec.language()?,
        };
        let mut query = TextQuery {
            search,
            language,
            case_sensitive,
            diacritic_sensitive,
            terms_for_bounds: Vec::new(),
            positive_terms: BTreeSet::new(),
            negated_terms: BTreeSet::new(),
            positive_phrases: Vec::new(),
            negated_phrases: Vec::new(),
        };
        let (positive, negated) = query.split_search();
        query.add_terms(&positive, false);
        query.add_terms(&negated, true);
        Ok(query)
    }

    /// Splits `$search` into its positive words, its negated words (each a space-separated
    /// "sentence" for the tokenizer) and its phrases (fts_query_impl.cpp `parse`).
    fn split_search(&mut self) -> (String, String) {
        let mut positive = String::new();
        let mut negated = String::new();
        let (mut in_negation, mut in_phrase) = (false, false);
        let mut quote_offset = 0;
        for token in SearchTokens::new(&self.search) {
            match token.kind {
                SearchToken::Text(text) => {
                    if in_phrase && in_negation {
                        // The words of a negated phrase are not terms.
                        continue;
                    }
                    // A negation lasts until the next white space: "-foo-bar" negates both.
                    if in_negation && token.after_space {
                        in_negation = false;
                    }
                    let sentence = if in_negation { &mut negated } else { &mut positive };
                    sentence.push_str(text);
                    sentence.push(' ');
                }
                SearchToken::Minus => {
                    // Words and phrases can be negated, words in phrases cannot.
                    if !in_phrase && token.after_space {
                        in_negation = true;
                    }
                }
                SearchToken::Quote => {
                    if in_phrase {
                        let phrase = self.search[quote_offset + 1..token.offset].to_string();
                        if in_negation {
                            self.negated_phrases.push(phrase);
                        } else {
                            self.positive_phrases.push(phrase);
                        }
                        // The negation goes on: '-"a b"-"c d"' negates both phrases.
                        in_phrase = false;
                    } else {
                        in_phrase = true;
                        // `- "a b"`: a `-` before white space negates nothing.
                        if in_negation && token.after_space {
                            in_negation = false;
                        }
                        quote_offset = token.offset;
                    }
                }
            }
        }
        (positive, negated)
    }

    /// Tokenizes a sentence of positive or negated words (fts_query_impl.cpp `_addTerms`).
    fn add_terms(&mut self, sentence: &str, negated: bool) {
        let folded = TokenOptions { filter_stop_words: true, case_sensitive: false, diacritic_sensitive: false };
        let sensitive = self.case_sensitive || self.diacritic_sensitive;
        let mut bounds = BTreeSet::new();
        let mut active = BTreeSet::new();
        Tokenizer::new(self.language, folded).for_each(sentence, |word| {
            if !sensitive {
                active.insert(word.clone());
            }
            if !negated {
                bounds.insert(word);
            }
            ControlFlow::Continue(())
        });
        if sensitive {
            let options = TokenOptions {
                filter_stop_words: true,
                case_sensitive: self.case_sensitive,
                diacritic_sensitive: self.diacritic_sensitive,
            };
            Tokenizer::new(self.language, options).for_each(sentence, |word| {
                active.insert(word);
                ControlFlow::Continue(())
            });
        }
        if negated {
            self.negated_terms = active;
        } else {
            self.positive_terms = active;
            self.terms_for_bounds = bounds.into_iter().collect();
        }
    }

    /// The positive terms, stemmed and folded as `TextSpec::terms` produces index terms, sorted
    /// and distinct: a document is a candidate when it has any of them. (Words of phrases are
    /// included, as MongoDB does.) Empty when every word is a stop word: nothing matches.
    pub fn positive_terms(&self) -> &[String] {
        &self.terms_for_bounds
    }

    /// The negated words, in the form `accepts` compares them.
    pub fn negated_terms(&self) -> impl Iterator<Item = &str> {
        self.negated_terms.iter().map(String::as_str)
    }

    /// The phrases a document must contain, as written in `$search`.
    pub fn phrases(&self) -> &[String] {
        &self.positive_phrases
    }

    /// The phrases a document must not contain.
    pub fn negated_phrases(&self) -> &[String] {
        &self.negated_phrases
    }

    /// The `$search` string.
    pub fn search(&self) -> &str {
        &self.search
    }

    /// The query's language (canonical name: "english", "none"...).
    pub fn language(&self) -> &'static str {
        self.language.name()
    }

    pub fn case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    pub fn diacritic_sensitive(&self) -> bool {
        self.diacritic_sensitive
    }

    /// Whether a candidate document (one having a `positive_terms` entry in the index)
    /// satisfies the rest of the query: every positive phrase in some indexed string, no
    /// negated word and no negated phrase in any, and with `$caseSensitive` /
    /// `$diacriticSensitive` a positive word in that exact form (fts_matcher.cpp). Strings are
    /// tokenized in their own language, without dropping stop words; phrases are substrings,
    /// case-insensitive (always for Turkish strings) unless `$caseSensitive`, diacritic-
    /// insensitive unless `$diacriticSensitive`.
    pub fn accepts(&self, spec: &TextSpec, doc: &RawDocument) -> Result<bool, DocError> {
        if (self.case_sensitive || self.diacritic_sensitive) && !self.has_word(spec, doc, &self.positive_terms)? {
            return Ok(false);
        }
        if !self.negated_terms.is_empty() && self.has_word(spec, doc, &self.negated_terms)? {
            return Ok(false);
        }
        for phrase in &self.positive_phrases {
            if !self.has_phrase(spec, doc, phrase)? {
                return Ok(false);
            }
        }
        for phrase in &self.negated_phrases {
            if self.has_phrase(spec, doc, phrase)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The whole `$text` predicate for any document: it has one of `positive_terms` among its
    /// index terms, and `accepts` it. (What an index scan plus `accepts` computes.)
    pub fn matches(&self, spec: &TextSpec, doc: &RawDocument) -> Result<bool, DocError> {
        if self.terms_for_bounds.is_empty() {
            return Ok(false);
        }
        let terms = spec.terms(doc)?;
        let candidate = self.terms_for_bounds.iter().any(|t| terms.binary_search_by(|(term, _)| term.as_str().cmp(t)).is_ok());
        Ok(candidate && self.accepts(spec, doc)?)
    }

    /// A document's `{$meta: "textScore"}` from its `TextSpec::terms`: the sum of its scores for
    /// the query's positive terms (added in term order, as MongoDB's TEXT_OR stage does).
    pub fn score(&self, doc_terms: &[(String, f64)]) -> f64 {
        let mut score = 0.0;
        for term in &self.terms_for_bounds {
            if let Ok(i) = doc_terms.binary_search_by(|(t, _)| t.as_str().cmp(term)) {
                score += doc_terms[i].1;
            }
        }
        score
    }

    fn matcher_options(&self) -> TokenOptions {
        TokenOptions { filter_stop_words: false, case_sensitive: self.case_sensitive, diacritic_sensitive: self.diacritic_sensitive }
    }

    /// Whether some indexed string of `doc` has one of `words` (fts_matcher.cpp
    /// `hasPositiveTerm` / `hasNegativeTerm`).
    fn has_word(&self, spec: &TextSpec, doc: &RawDocument, words: &BTreeSet<String>) -> Result<bool, DocError> {
        let options = self.matcher_options();
        let mut found = false;
        spec.for_each_string(doc, |text, language, _| {
            Tokenizer::new(language, options).for_each(text, |word| {
                if words.contains(&word) {
                    found = true;
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            Ok(if found { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })?;
        Ok(found)
    }

    /// Whether some indexed string of `doc` contains `phrase`.
    fn has_phrase(&self, spec: &TextSpec, doc: &RawDocument, phrase: &str) -> Result<bool, DocError> {
        let mut found = false;
        spec.for_each_string(doc, |text, language, _| {
            found = phrase_matches(phrase, text, self.case_sensitive, self.diacritic_sensitive, language.is_turkish());
            Ok(if found { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })?;
        Ok(found)
    }
}

/// Whether `haystack` contains `phrase`, folding case unless `case_sensitive` (Turkish
/// strings always fold) and diacritics unless `diacritic_sensitive` (unicode/string.cpp
/// `substrMatch`).
fn phrase_matches(phrase: &str, haystack: &str, case_sensitive: bool, diacritic_sensitive: bool, turkish: bool) -> bool {
    let case_sensitive = case_sensitive && !turkish;
    let fold = |s: &str| -> String {
        s.chars()
            .filter_map(|c| {
                let c = if case_sensitive { c } else { fold_case(c, turkish) };
                if diacritic_sensitive {
                    Some(c)
                } else {
                    strip_diacritic(c)
                }
            })
            .collect()
    };
    if case_sensitive && diacritic_sensitive {
        haystack.contains(phrase)
    } else {
        fold(haystack).contains(&fold(phrase))
    }
}

/// One token of a `$search` string (fts_query_parser.cpp): a run of word bytes, or one `-` or
/// `"`; white space (space, \n, \v, \f, \r: not tab) separates tokens and is dropped.
enum SearchToken<'a> {
    Text(&'a str),
    Minus,
    Quote,
}

struct PositionedToken<'a> {
    kind: SearchToken<'a>,
    /// Byte offset in the search string.
    offset: usize,
    /// Whether white space (or the start of the string) precedes the token.
    after_space: bool,
}

struct SearchTokens<'a> {
    search: &'a str,
    pos: usize,
    after_space: bool,
}

impl<'a> SearchTokens<'a> {
    fn new(search: &'a str) -> Self {
        let mut tokens = SearchTokens { search, pos: 0, after_space: true };
        tokens.skip_space();
        tokens.after_space = true;
        tokens
    }

    fn is_space(b: u8) -> bool {
        matches!(b, b'\n' | 0x0b | 0x0c | b'\r' | b' ')
    }

    fn is_word(b: u8) -> bool {
        !Self::is_space(b) && b != b'-' && b != b'"'
    }

    /// Skips white space; whether there was any.
    fn skip_space(&mut self) -> bool {
        let start = self.pos;
        let bytes = self.search.as_bytes();
        while self.pos < bytes.len() && Self::is_space(bytes[self.pos]) {
            self.pos += 1;
        }
        self.pos > start
    }
}

impl<'a> Iterator for SearchTokens<'a> {
    type Item = PositionedToken<'a>;

    fn next(&mut self) -> Option<PositionedToken<'a>> {
        let bytes = self.search.as_bytes();
        let start = self.pos;
        let kind = match *bytes.get(start)? {
            b'-' => {
                self.pos += 1;
                SearchToken::Minus
            }
            b'"' => {
                self.pos += 1;
                SearchToken::Quote
            }
            _ => {
                while self.pos < bytes.len() && Self::is_word(bytes[self.pos]) {
                    self.pos += 1;
                }
                // The separators are ASCII, so `start..pos` are character boundaries.
                SearchToken::Text(self.search.get(start..self.pos)?)
            }
        };
        let after_space = self.after_space;
        self.after_space = self.skip_space();
        Some(PositionedToken { kind, offset: start, after_space })
    }
}

/// A language of text index version 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Language {
    None,
    Danish,
    Dutch,
    English,
    Finnish,
    French,
    German,
    Hungarian,
    Italian,
    Norwegian,
    Portuguese,
    Romanian,
    Russian,
    Spanish,
    Swedish,
    Turkish,
}

/// Each language with its canonical name, ISO 639-1 alias, stemmer and stop words.
const LANGUAGES: [(Language, &str, &str, Option<Algorithm>, &str); 16] = [
    (Language::None, "none", "none", None, ""),
    (Language::Danish, "danish", "da", Some(Algorithm::Danish), STOP_DANISH),
    (Language::Dutch, "dutch", "nl", Some(Algorithm::Dutch), STOP_DUTCH),
    (Language::English, "english", "en", Some(Algorithm::English), STOP_ENGLISH),
    (Language::Finnish, "finnish", "fi", Some(Algorithm::Finnish), STOP_FINNISH),
    (Language::French, "french", "fr", Some(Algorithm::French), STOP_FRENCH),
    (Language::German, "german", "de", Some(Algorithm::German), STOP_GERMAN),
    (Language::Hungarian, "hungarian", "hu", Some(Algorithm::Hungarian), STOP_HUNGARIAN),
    (Language::Italian, "italian", "it", Some(Algorithm::Italian), STOP_ITALIAN),
    (Language::Norwegian, "norwegian", "nb", Some(Algorithm::Norwegian), STOP_NORWEGIAN),
    (Language::Portuguese, "portuguese", "pt", Some(Algorithm::Portuguese), STOP_PORTUGUESE),
    (Language::Romanian, "romanian", "ro", Some(Algorithm::Romanian), STOP_ROMANIAN),
    (Language::Russian, "russian", "ru", Some(Algorithm::Russian), STOP_RUSSIAN),
    (Language::Spanish, "spanish", "es", Some(Algorithm::Spanish), STOP_SPANISH),
    (Language::Swedish, "swedish", "sv", Some(Algorithm::Swedish), STOP_SWEDISH),
    (Language::Turkish, "turkish", "tr", Some(Algorithm::Turkish), STOP_TURKISH),
];

impl Language {
    /// A language by name or alias, ASCII case-insensitively (fts_language.cpp).
    fn parse(name: &str) -> Option<Language> {
        LANGUAGES
            .iter()
            .find(|(_, full, alias, ..)| name.eq_ignore_ascii_case(full) || name.eq_ignore_ascii_case(alias))
            .map(|(language, ..)| *language)
    }

    /// MongoDB's error for a `$language` it does not know.
    fn unsupported(name: &str) -> DocError {
        DocError::bad_value(format!("unsupported language: \"{name}\" for text index version {TEXT_INDEX_VERSION}"))
    }

    fn entry(self) -> &'static (Language, &'static str, &'static str, Option<Algorithm>, &'static str) {
        &LANGUAGES[self as usize]
    }

    fn name(self) -> &'static str {
        self.entry().1
    }

    fn is_english(self) -> bool {
        self == Language::English
    }

    fn is_turkish(self) -> bool {
        self == Language::Turkish
    }

    fn stop_words(self) -> &'static HashSet<&'static str> {
        static SETS: OnceLock<Vec<HashSet<&'static str>>> = OnceLock::new();
        let sets = SETS.get_or_init(|| LANGUAGES.iter().map(|(.., words)| words.split_ascii_whitespace().collect()).collect());
        &sets[self as usize]
    }
}

/// What a tokenizer produces (fts_tokenizer.h options).
#[derive(Clone, Copy, Debug)]
struct TokenOptions {
    filter_stop_words: bool,
    case_sensitive: bool,
    diacritic_sensitive: bool,
}

/// MongoDB's `UnicodeFTSTokenizer` for one language.
struct Tokenizer {
    language: Language,
    stemmer: Option<Stemmer>,
    stop_words: &'static HashSet<&'static str>,
    options: TokenOptions,
}

impl Tokenizer {
    fn new(language: Language, options: TokenOptions) -> Self {
        Tokenizer { language, stemmer: language.entry().3.map(Stemmer::create), stop_words: language.stop_words(), options }
    }

    /// Calls `emit` with each token of `text` in order, until it breaks.
    fn for_each(&self, text: &str, mut emit: impl FnMut(String) -> ControlFlow<()>) {
        let english = self.language.is_english();
        let mut rest = text;
        loop {
            let Some(start) = rest.find(|c| !is_delimiter(c, english)) else { return };
            rest = &rest[start..];
            let end = rest.find(|c| is_delimiter(c, english)).unwrap_or(rest.len());
            let (token, tail) = rest.split_at(end);
            rest = tail;
            if let Some(word) = self.word(token) {
                if emit(word).is_break() {
                    return;
                }
            }
        }
    }

    /// One token as a term: lower-cased, stop words dropped, stemmed, diacritics folded.
    fn word(&self, token: &str) -> Option<String> {
        let turkish = self.language.is_turkish();
        // Stop words are matched lower-cased, with their diacritics.
        let lower: String = token.chars().map(|c| fold_case(c, turkish)).collect();
        if self.options.filter_stop_words && self.stop_words.contains(lower.as_str()) {
            return None;
        }
        let word = if self.options.case_sensitive { token.to_string() } else { lower };
        // The stemmer sees the diacritics; they are folded after.
        let stemmed = match &self.stemmer {
            None => word,
            // A stemmer bug must not take the database down: keep the word unstemmed.
            Some(stemmer) => match catch_unwind(AssertUnwindSafe(|| stemmer.stem(&word).into_owned())) {
                Ok(stemmed) => stemmed,
                Err(_) => word,
            },
        };
        Some(if self.options.diacritic_sensitive { stemmed } else { stemmed.chars().filter_map(strip_diacritic).collect() })
    }
}

/// Simple case folding of one code point (unicode/codepoints_casefold.cpp): Unicode lower case,
/// plus the folds of already-lower-case letters; Turkish maps `I` to `ı` and `İ` to `i`.
fn fold_case(c: char, turkish: bool) -> char {
    if c.is_ascii() {
        return if turkish && c == 'I' { 'ı' } else { c.to_ascii_lowercase() };
    }
    match c {
        'İ' if turkish => 'i',
        'ς' => 'σ',
        'ſ' => 's',
        'µ' => 'μ',
        'ϐ' => 'β',
        'ϑ' => 'θ',
        'ϕ' => 'φ',
        'ϖ' => 'π',
        'ϰ' => 'κ',
        'ϱ' => 'ρ',
        'ϵ' => 'ε',
        'ẛ' => 'ṡ',
        '\u{1FBE}' => 'ι',
        _ => {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        }
    }
}

/// One code point without its diacritics (unicode/codepoints_diacritic_map.cpp): None for a
/// code point with the Diacritic property, the base letter of a precomposed letter whose
/// canonical decomposition minus its diacritics recomposes to one code point, else itself.
fn strip_diacritic(c: char) -> Option<char> {
    if c.is_ascii() {
        // ASCII's two diacritics; no ASCII letter has one.
        return if c == '^' || c == '`' { None } else { Some(c) };
    }
    if is_diacritic(c) {
        return None;
    }
    let mut base: Option<char> = None;
    let mut single = true;
    decompose_canonical(c, |d| {
        if !single || is_diacritic(d) {
            return;
        }
        base = match base {
            None => Some(d),
            Some(b) => match compose(b, d) {
                Some(composed) => Some(composed),
                None => {
                    single = false;
                    None
                }
            },
        };
    });
    Some(match base {
        Some(b) if single => b,
        _ => c,
    })
}

/// Whether `c` separates tokens (unicode/codepoints_delimiter_list.cpp).
fn is_delimiter(c: char, english: bool) -> bool {
    if c.is_ascii() {
        return match c {
            '\'' => !english,
            '_' => false,
            '\t'..='\r' | ' ' => true,
            _ => c.is_ascii_punctuation(),
        };
    }
    in_ranges(DELIMITERS, c)
}

fn is_diacritic(c: char) -> bool {
    in_ranges(DIACRITICS, c)
}

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let cp = u32::from(c);
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

// Unicode 15 PropList.txt, code points above ASCII: White_Space, Dash, Hyphen, Quotation_Mark,
// Terminal_Punctuation, Pattern_Syntax and Sentence_Terminal (the delimiters)...
const DELIMITERS: &[(u32, u32)] = &[
    (0x85, 0x85),
    (0xA0, 0xA7),
    (0xA9, 0xA9),
    (0xAB, 0xAE),
    (0xB0, 0xB1),
    (0xB6, 0xB6),
    (0xBB, 0xBB),
    (0xBF, 0xBF),
    (0xD7, 0xD7),
    (0xF7, 0xF7),
    (0x37E, 0x37E),
    (0x387, 0x387),
    (0x589, 0x58A),
    (0x5BE, 0x5BE),
    (0x5C3, 0x5C3),
    (0x60C, 0x60C),
    (0x61B, 0x61B),
    (0x61D, 0x61F),
    (0x6D4, 0x6D4),
    (0x700, 0x70A),
    (0x70C, 0x70C),
    (0x7F8, 0x7F9),
    (0x830, 0x83E),
    (0x85E, 0x85E),
    (0x964, 0x965),
    (0xE5A, 0xE5B),
    (0xF08, 0xF08),
    (0xF0D, 0xF12),
    (0x104A, 0x104B),
    (0x1361, 0x1368),
    (0x1400, 0x1400),
    (0x166E, 0x166E),
    (0x1680, 0x1680),
    (0x16EB, 0x16ED),
    (0x1735, 0x1736),
    (0x17D4, 0x17D6),
    (0x17DA, 0x17DA),
    (0x1802, 0x1806),
    (0x1808, 0x1809),
    (0x1944, 0x1945),
    (0x1AA8, 0x1AAB),
    (0x1B5A, 0x1B5B),
    (0x1B5D, 0x1B5F),
    (0x1B7D, 0x1B7E),
    (0x1C3B, 0x1C3F),
    (0x1C7E, 0x1C7F),
    (0x2000, 0x200A),
    (0x2010, 0x2029),
    (0x202F, 0x203E),
    (0x2041, 0x2053),
    (0x2055, 0x205F),
    (0x207B, 0x207B),
    (0x208B, 0x208B),
    (0x2190, 0x245F),
    (0x2500, 0x2775),
    (0x2794, 0x2BFF),
    (0x2E00, 0x2E7F),
    (0x3000, 0x3003),
    (0x3008, 0x3020),
    (0x3030, 0x3030),
    (0x30A0, 0x30A0),
    (0x30FB, 0x30FB),
    (0xA4FE, 0xA4FF),
    (0xA60D, 0xA60F),
    (0xA6F3, 0xA6F7),
    (0xA876, 0xA877),
    (0xA8CE, 0xA8CF),
    (0xA92F, 0xA92F),
    (0xA9C7, 0xA9C9),
    (0xAA5D, 0xAA5F),
    (0xAADF, 0xAADF),
    (0xAAF0, 0xAAF1),
    (0xABEB, 0xABEB),
    (0xFD3E, 0xFD3F),
    (0xFE31, 0xFE32),
    (0xFE41, 0xFE46),
    (0xFE50, 0xFE52),
    (0xFE54, 0xFE58),
    (0xFE63, 0xFE63),
    (0xFF01, 0xFF02),
    (0xFF07, 0xFF07),
    (0xFF0C, 0xFF0E),
    (0xFF1A, 0xFF1B),
    (0xFF1F, 0xFF1F),
    (0xFF61, 0xFF65),
    (0x1039F, 0x1039F),
    (0x103D0, 0x103D0),
    (0x10857, 0x10857),
    (0x1091F, 0x1091F),
    (0x10A56, 0x10A57),
    (0x10AF0, 0x10AF5),
    (0x10B3A, 0x10B3F),
    (0x10B99, 0x10B9C),
    (0x10EAD, 0x10EAD),
    (0x10F55, 0x10F59),
    (0x10F86, 0x10F89),
    (0x11047, 0x1104D),
    (0x110BE, 0x110C1),
    (0x11141, 0x11143),
    (0x111C5, 0x111C6),
    (0x111CD, 0x111CD),
    (0x111DE, 0x111DF),
    (0x11238, 0x1123C),
    (0x112A9, 0x112A9),
    (0x1144B, 0x1144D),
    (0x1145A, 0x1145B),
    (0x115C2, 0x115C5),
    (0x115C9, 0x115D7),
    (0x11641, 0x11642),
    (0x1173C, 0x1173E),
    (0x11944, 0x11944),
    (0x11946, 0x11946),
    (0x11A42, 0x11A43),
    (0x11A9B, 0x11A9C),
    (0x11AA1, 0x11AA2),
    (0x11C41, 0x11C43),
    (0x11C71, 0x11C71),
    (0x11EF7, 0x11EF8),
    (0x11F43, 0x11F44),
    (0x12470, 0x12474),
    (0x16A6E, 0x16A6F),
    (0x16AF5, 0x16AF5),
    (0x16B37, 0x16B39),
    (0x16B44, 0x16B44),
    (0x16E97, 0x16E98),
    (0x1BC9F, 0x1BC9F),
    (0x1DA87, 0x1DA8A),
];

// ...and the Diacritic property (the code points diacritic folding removes).
const DIACRITICS: &[(u32, u32)] = &[
    (0xA8, 0xA8),
    (0xAF, 0xAF),
    (0xB4, 0xB4),
    (0xB7, 0xB8),
    (0x2B0, 0x34E),
    (0x350, 0x357),
    (0x35D, 0x362),
    (0x374, 0x375),
    (0x37A, 0x37A),
    (0x384, 0x385),
    (0x483, 0x487),
    (0x559, 0x559),
    (0x591, 0x5A1),
    (0x5A3, 0x5BD),
    (0x5BF, 0x5BF),
    (0x5C1, 0x5C2),
    (0x5C4, 0x5C4),
    (0x64B, 0x652),
    (0x657, 0x658),
    (0x6DF, 0x6E0),
    (0x6E5, 0x6E6),
    (0x6EA, 0x6EC),
    (0x730, 0x74A),
    (0x7A6, 0x7B0),
    (0x7EB, 0x7F5),
    (0x818, 0x819),
    (0x898, 0x89F),
    (0x8C9, 0x8D2),
    (0x8E3, 0x8FE),
    (0x93C, 0x93C),
    (0x94D, 0x94D),
    (0x951, 0x954),
    (0x971, 0x971),
    (0x9BC, 0x9BC),
    (0x9CD, 0x9CD),
    (0xA3C, 0xA3C),
    (0xA4D, 0xA4D),
    (0xABC, 0xABC),
    (0xACD, 0xACD),
    (0xAFD, 0xAFF),
    (0xB3C, 0xB3C),
    (0xB4D, 0xB4D),
    (0xB55, 0xB55),
    (0xBCD, 0xBCD),
    (0xC3C, 0xC3C),
    (0xC4D, 0xC4D),
    (0xCBC, 0xCBC),
    (0xCCD, 0xCCD),
    (0xD3B, 0xD3C),
    (0xD4D, 0xD4D),
    (0xDCA, 0xDCA),
    (0xE47, 0xE4C),
    (0xE4E, 0xE4E),
    (0xEBA, 0xEBA),
    (0xEC8, 0xECC),
    (0xF18, 0xF19),
    (0xF35, 0xF35),
    (0xF37, 0xF37),
    (0xF39, 0xF39),
    (0xF3E, 0xF3F),
    (0xF82, 0xF84),
    (0xF86, 0xF87),
    (0xFC6, 0xFC6),
    (0x1037, 0x1037),
    (0x1039, 0x103A),
    (0x1063, 0x1064),
    (0x1069, 0x106D),
    (0x1087, 0x108D),
    (0x108F, 0x108F),
    (0x109A, 0x109B),
    (0x135D, 0x135F),
    (0x1714, 0x1715),
    (0x17C9, 0x17D3),
    (0x17DD, 0x17DD),
    (0x1939, 0x193B),
    (0x1A75, 0x1A7C),
    (0x1A7F, 0x1A7F),
    (0x1AB0, 0x1ABE),
    (0x1AC1, 0x1ACB),
    (0x1B34, 0x1B34),
    (0x1B44, 0x1B44),
    (0x1B6B, 0x1B73),
    (0x1BAA, 0x1BAB),
    (0x1C36, 0x1C37),
    (0x1C78, 0x1C7D),
    (0x1CD0, 0x1CE8),
    (0x1CED, 0x1CED),
    (0x1CF4, 0x1CF4),
    (0x1CF7, 0x1CF9),
    (0x1D2C, 0x1D6A),
    (0x1DC4, 0x1DCF),
    (0x1DF5, 0x1DFF),
    (0x1FBD, 0x1FBD),
    (0x1FBF, 0x1FC1),
    (0x1FCD, 0x1FCF),
    (0x1FDD, 0x1FDF),
    (0x1FED, 0x1FEF),
    (0x1FFD, 0x1FFE),
    (0x2CEF, 0x2CF1),
    (0x2E2F, 0x2E2F),
    (0x302A, 0x302F),
    (0x3099, 0x309C),
    (0x30FC, 0x30FC),
    (0xA66F, 0xA66F),
    (0xA67C, 0xA67D),
    (0xA67F, 0xA67F),
    (0xA69C, 0xA69D),
    (0xA6F0, 0xA6F1),
    (0xA700, 0xA721),
    (0xA788, 0xA78A),
    (0xA7F8, 0xA7F9),
    (0xA8C4, 0xA8C4),
    (0xA8E0, 0xA8F1),
    (0xA92B, 0xA92E),
    (0xA953, 0xA953),
    (0xA9B3, 0xA9B3),
    (0xA9C0, 0xA9C0),
    (0xA9E5, 0xA9E5),
    (0xAA7B, 0xAA7D),
    (0xAABF, 0xAAC2),
    (0xAAF6, 0xAAF6),
    (0xAB5B, 0xAB5F),
    (0xAB69, 0xAB6B),
    (0xABEC, 0xABED),
    (0xFB1E, 0xFB1E),
    (0xFE20, 0xFE2F),
    (0xFF3E, 0xFF3E),
    (0xFF40, 0xFF40),
    (0xFF70, 0xFF70),
    (0xFF9E, 0xFF9F),
    (0xFFE3, 0xFFE3),
    (0x102E0, 0x102E0),
    (0x10780, 0x10785),
    (0x10787, 0x107B0),
    (0x107B2, 0x107BA),
    (0x10AE5, 0x10AE6),
    (0x10D22, 0x10D27),
    (0x10EFD, 0x10EFF),
    (0x10F46, 0x10F50),
    (0x10F82, 0x10F85),
    (0x11046, 0x11046),
    (0x11070, 0x11070),
    (0x110B9, 0x110BA),
    (0x11133, 0x11134),
    (0x11173, 0x11173),
    (0x111C0, 0x111C0),
    (0x111CA, 0x111CC),
    (0x11235, 0x11236),
    (0x112E9, 0x112EA),
    (0x1133C, 0x1133C),
    (0x1134D, 0x1134D),
    (0x11366, 0x1136C),
    (0x11370, 0x11374),
    (0x11442, 0x11442),
    (0x11446, 0x11446),
    (0x114C2, 0x114C3),
    (0x115BF, 0x115C0),
    (0x1163F, 0x1163F),
    (0x116B6, 0x116B7),
    (0x1172B, 0x1172B),
    (0x11839, 0x1183A),
    (0x1193D, 0x1193E),
    (0x11943, 0x11943),
    (0x119E0, 0x119E0),
    (0x11A34, 0x11A34),
    (0x11A47, 0x11A47),
    (0x11A99, 0x11A99),
    (0x11C3F, 0x11C3F),
    (0x11D42, 0x11D42),
    (0x11D44, 0x11D45),
    (0x11D97, 0x11D97),
    (0x13447, 0x13455),
    (0x16AF0, 0x16AF4),
    (0x16B30, 0x16B36),
    (0x16F8F, 0x16F9F),
    (0x16FF0, 0x16FF1),
    (0x1AFF0, 0x1AFF3),
    (0x1AFF5, 0x1AFFB),
    (0x1AFFD, 0x1AFFE),
    (0x1CF00, 0x1CF2D),
    (0x1CF30, 0x1CF46),
    (0x1D167, 0x1D169),
    (0x1D16D, 0x1D172),
    (0x1D17B, 0x1D182),
    (0x1D185, 0x1D18B),
    (0x1D1AA, 0x1D1AD),
    (0x1E030, 0x1E06D),
    (0x1E130, 0x1E136),
    (0x1E2AE, 0x1E2AE),
    (0x1E2EC, 0x1E2EF),
    (0x1E8D0, 0x1E8D6),
    (0x1E944, 0x1E946),
    (0x1E948, 0x1E94A),
];

// The stop words, as MongoDB ships them (stop_words_<language>.txt: the Snowball lists for most
// languages, kept as they are, including their dropped or Latin-1 letters in Russian and
// Turkish). Matched against lower-cased tokens, before stemming.
const STOP_DANISH: &str = "ad af alle alt anden at blev blive bliver da de dem den denne der deres det dette dig din disse dog du efter \
    eller en end er et for fra ham han hans har havde have hende hendes her hos hun hvad hvis hvor i ikke ind jeg \
    jer jo kunne man mange med meget men mig min mine mit mod ned noget nogle nu når og også om op os over på \
    selv sig sin sine sit skal skulle som sådan thi til ud under var vi vil ville vor være været";

const STOP_DUTCH: &str = "aan al alles als altijd andere ben bij daar dan dat de der deze die dit doch doen door dus een eens en er ge \
    geen geweest haar had heb hebben heeft hem het hier hij hoe hun iemand iets ik in is ja je kan kon kunnen \
    maar me meer men met mij mijn moet na naar niet niets nog nu of om omdat onder ons ook op over reeds te tegen \
    toch toen tot u uit uw van veel voor want waren was wat werd wezen wie wil worden wordt zal ze zelf zich zij \
    zijn zo zonder zou";

const STOP_ENGLISH: &str = "a about above after again against all am an and any are aren't as at be because been before being below \
    between both but by can't cannot could couldn't did didn't do does doesn't doing don't down during each few \
    for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself \
    him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most \
    mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't \
    she she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then \
    there there's these they they'd they'll they're they've this those through to too under until up very was \
    wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's \
    whom why why's with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves";

const STOP_FINNISH: &str = "ei eivät emme en et ette että he heidän heidät heihin heille heillä heiltä heissä heistä heitä hän häneen \
    hänelle hänellä häneltä hänen hänessä hänestä hänet häntä itse ja johon joiden joihin joiksi joilla joille \
    joilta joina joissa joista joita joka joksi jolla jolle jolta jona jonka jos jossa josta jota jotka kanssa \
    keiden keihin keiksi keille keillä keiltä keinä keissä keistä keitä keneen keneksi kenelle kenellä keneltä \
    kenen kenenä kenessä kenestä kenet ketkä ketä koska kuin kuka kun me meidän meidät meihin meille meillä \
    meiltä meissä meistä meitä mihin miksi mikä mille millä miltä minkä minua minulla minulle minulta minun \
    minussa minusta minut minuun minä missä mistä mitkä mitä mukaan mutta ne niiden niihin niiksi niille niillä \
    niiltä niin niinä niissä niistä niitä noiden noihin noiksi noilla noille noilta noin noina noissa noista \
    noita nuo nyt näiden näihin näiksi näille näillä näiltä näinä näissä näistä näitä nämä ole olemme olen olet \
    olette oli olimme olin olisi olisimme olisin olisit olisitte olisivat olit olitte olivat olla olleet ollut on \
    ovat poikki se sekä sen siihen siinä siitä siksi sille sillä siltä sinua sinulla sinulle sinulta sinun \
    sinussa sinusta sinut sinuun sinä sitä tai te teidän teidät teihin teille teillä teiltä teissä teistä teitä \
    tuo tuohon tuoksi tuolla tuolle tuolta tuon tuona tuossa tuosta tuota tähän täksi tälle tällä tältä tämä \
    tämän tänä tässä tästä tätä vaan vai vaikka yli";

const STOP_FRENCH: &str = "a ai aie aient aies ait alors as au aucun aura aurai auraient aurais aurait auras aurez auriez aurions aurons \
    auront aussi autre aux avaient avais avait avant avec avez aviez avions avoir avons ayant ayez ayons bon c \
    car ce ceci cela ces cet cette ceux chaque ci comme comment d dans de dedans dehors depuis des deux devoir \
    devrait devrez devriez devrions devrons devront dois doit donc dos droite du dès début dù elle elles en \
    encore es est et eu eue eues eurent eus eusse eussent eusses eussiez eussions eut eux eûmes eût eûtes faire \
    fais faisez fait faites fois font force furent fus fusse fussent fusses fussiez fussions fut fûmes fût fûtes \
    haut hors ici il ils j je juste l la le les leur leurs lui là m ma maintenant mais me mes moi moins mon mot \
    même n ne ni nom nommé nommée nommés nos notre nous nouveau nouveaux on ont ou où par parce parole pas \
    personne personnes peu peut plupart pour pourquoi qu quand que quel quelle quelles quels qui s sa sans se \
    sera serai seraient serais serait seras serez seriez serions serons seront ses seulement si sien soi soient \
    sois soit sommes son sont sous soyez soyons suis sujet sur t ta tandis te tellement tels tes toi ton tous \
    tout trop très tu un une valeur voient vois voit vont vos votre vous vu y à ça étaient étais était étant état \
    étiez étions été étés êtes être";

const STOP_GERMAN: &str = "aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anderm andern \
    anders auch auf aus bei bin bis bist da damit dann das dass dasselbe dazu daß dein deine deinem deinen deiner \
    deines dem demselben den denn denselben der derer derselbe derselben des desselben dessen dich die dies diese \
    dieselbe dieselben diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer eines einig \
    einige einigem einigen einiger einiges einmal er es etwas euch euer eure eurem euren eurer eures für gegen \
    gewesen hab habe haben hat hatte hatten hier hin hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im \
    in indem ins ist jede jedem jeden jeder jedes jene jenem jenen jener jenes jetzt kann kein keine keinem \
    keinen keiner keines können könnte machen man manche manchem manchen mancher manches mein meine meinem meinen \
    meiner meines mich mir mit muss musste nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem \
    seinen seiner seines selbst sich sie sind so solche solchem solchen solcher solches soll sollte sondern sonst \
    um und uns unse unsem unsen unser unses unter viel vom von vor war waren warst was weg weil weiter welche \
    welchem welchen welcher welches wenn werde werden wie wieder will wir wird wirst wo wollen wollte während \
    würde würden zu zum zur zwar zwischen über";

const STOP_HUNGARIAN: &str =
    "a abban ahhoz ahogy ahol aki akik akkor alatt amely amelyek amelyekben amelyeket amelyet amelynek ami amikor \
    amit amolyan amíg annak arra arról az azok azon azonban azt aztán azután azzal azért be belül benne bár cikk \
    cikkek cikkeket csak de e ebben eddig egy egyes egyetlen egyik egyre egyéb egész ehhez ekkor el ellen elsõ \
    elég elõ elõször elõtt emilyen ennek erre ez ezek ezen ezt ezzel ezért fel felé hanem hiszen hogy hogyan igen \
    ill ill. illetve ilyen ilyenkor ismét ison itt jobban jó jól kell kellett keressünk keresztül ki kívül között \
    közül legalább legyen lehet lehetett lenne lenni lesz lett maga magát majd meg mellett mely melyek mert mi \
    mikor milyen minden mindenki mindent mindig mint mintha mit mivel miért most már más másik még míg nagy \
    nagyobb nagyon ne nekem neki nem nincs néha néhány nélkül olyan ott pedig persze rá s saját sem semmi sok \
    sokat sokkal szemben szerint szinte számára talán tehát teljes tovább továbbá több ugyanis utolsó után utána \
    vagy vagyis vagyok valaki valami valamint való van vannak vele vissza viszont volna volt voltak voltam \
    voltunk által általában át én éppen és így õ õk õket össze úgy új újabb újra";

const STOP_ITALIAN: &str = "a abbia abbiamo abbiano abbiate ad agl agli ai al all alla alle allo anche avemmo avendo avesse avessero \
    avessi avessimo aveste avesti avete aveva avevamo avevano avevate avevi avevo avrai avranno avrebbe avrebbero \
    avrei avremmo avremo avreste avresti avrete avrà avrò avuta avute avuti avuto c che chi ci coi col come con \
    contro cui da dagl dagli dai dal dall dalla dalle dallo degl degli dei del dell della delle dello di dov dove \
    e ebbe ebbero ebbi ed era erano eravamo eravate eri ero essendo faccia facciamo facciano facciate faccio \
    facemmo facendo facesse facessero facessi facessimo faceste facesti faceva facevamo facevano facevate facevi \
    facevo fai fanno farai faranno farebbe farebbero farei faremmo faremo fareste faresti farete farà farò fece \
    fecero feci fosse fossero fossi fossimo foste fosti fu fui fummo furono gli ha hai hanno ho i il in io l la \
    le lei li lo loro lui ma mi mia mie miei mio ne negl negli nei nel nell nella nelle nello noi non nostra \
    nostre nostri nostro o per perché più quale quanta quante quanti quanto quella quelle quelli quello questa \
    queste questi questo sarai saranno sarebbe sarebbero sarei saremmo saremo sareste saresti sarete sarà sarò se \
    sei si sia siamo siano siate siete sono sta stai stando stanno starai staranno starebbe starebbero starei \
    staremmo staremo stareste staresti starete starà starò stava stavamo stavano stavate stavi stavo stemmo \
    stesse stessero stessi stessimo steste stesti stette stettero stetti stia stiamo stiano stiate sto su sua sue \
    sugl sugli sui sul sull sulla sulle sullo suo suoi ti tra tu tua tue tuo tuoi tutti tutto un una uno vi voi \
    vostra vostre vostri vostro è";

const STOP_NORWEGIAN: &str = "alle andre arbeid at av bare begge ble blei bli blir blitt bort bra bruke både båe da de deg dei deim deira \
    deires dem den denne der dere deres det dette di din disse ditt du dykk dykkar då eg ein eit eitt eller elles \
    en ene eneste enhver enn er et ett etter folk for fordi forsøke fra få før først gjorde gjøre god gå ha hadde \
    han hans har hennar henne hennes her hjå ho hoe honom hoss hossen hun hva hvem hver hvilke hvilken hvis hvor \
    hvordan hvorfor i ikke ikkje ingen ingi inkje inn innen inni ja jeg kan kom korleis korso kun kunne kva kvar \
    kvarhelst kven kvi kvifor lage lang lik like makt man mange me med medan meg meget mellom men mens mer mest \
    mi min mine mitt mot mye mykje må måte navn ned nei no noe noen noka noko nokon nokor nokre ny nå når og også \
    om opp oss over part punkt på rett riktig samme sant seg selv si sia sidan siden sin sine sist sitt sjøl skal \
    skulle slik slutt so som somme somt start stille så sånn tid til tilbake tilstand um under upp ut uten var \
    vart varte ved verdi vere verte vi vil ville vite vore vors vort vår være vært å";

const STOP_PORTUGUESE: &str =
    "a ao aos aquela aquelas aquele aqueles aquilo as até com como da das de dela delas dele deles depois do dos e \
    ela elas ele eles em entre era eram essa essas esse esses esta estamos estas estava estavam este esteja \
    estejam estejamos estes esteve estive estivemos estiver estivera estiveram estiverem estivermos estivesse \
    estivessem estivéramos estivéssemos estou está estávamos estão eu foi fomos for fora foram forem formos fosse \
    fossem fui fôramos fôssemos haja hajam hajamos havemos hei houve houvemos houver houvera houveram houverei \
    houverem houveremos houveria houveriam houvermos houverá houverão houveríamos houvesse houvessem houvéramos \
    houvéssemos há hão isso isto já lhe lhes mais mas me mesmo meu meus minha minhas muito na nas nem no nos \
    nossa nossas nosso nossos num numa não nós o os ou para pela pelas pelo pelos por qual quando que quem se \
    seja sejam sejamos sem serei seremos seria seriam será serão seríamos seu seus somos sou sua suas são só \
    também te tem temos tenha tenham tenhamos tenho terei teremos teria teriam terá terão teríamos teu teus teve \
    tinha tinham tive tivemos tiver tivera tiveram tiverem tivermos tivesse tivessem tivéramos tivéssemos tu tua \
    tuas tém tínhamos um uma você vocês vos à às éramos";

const STOP_ROMANIAN: &str =
    "a abia acea aceasta aceea aceeasi aceia acel acela acelasi acelea acest acesta aceste acestea acestei acestia \
    acestui acolo acum adica ai aia aici aiurea al ala alaturi ale alt alta altceva alte altfel alti altii altul \
    am anume apoi ar are as asa asemenea asta astazi astfel asupra atare atat atata atatea atatia ati atit atita \
    atitea atitia atunci au avea avem avut azi b ba bine c ca cam cand capat care careia carora caruia cat catre \
    ce cea ceea cei ceilalti cel cele celor ceva chiar ci cind cine cineva cit cita cite citeva citi citiva \
    conform cu cui cum cumva d da daca dar dat de deasupra deci decit degraba deja desi despre din dintr dintre \
    doar dupa e ea ei el ele era este eu exact f face fara fata fel fi fie foarte fost g geaba h i ia iar ii il \
    imi in inainte inapoi inca incit insa intr intre isi iti j k l la le li lor lui m ma mai mare mi mod mult \
    multa multe multi n ne ni nici niciodata nimeni nimic niste noi nostri nou noua nu numai o or ori orice \
    oricum p pai parca pe pentru peste pina plus prea prin putini r s sa sa-mi sa-ti sai sale sau se si sint \
    sintem spre sub sunt suntem sus t te ti toata toate tocmai tot toti totul totusi tu tuturor u ul ului un una \
    unde unei unele uneori unii unor unui unul v va voi vom vor vreo vreun x z";

const STOP_RUSSIAN: &str = "а без более больше будет будто бы был была были было быть в вам вас вдруг ведь во вот вроем все всегда всего \
    всех всю вы где говорил да даже два для до другой его ее ей еловек ем ему еред ерез если есть ж же жизнь за \
    заем здесь и из или им иногда их к кажется как какая какой когда конено кто куда ли луше между меня мне много \
    может можно мой моя мы на над надо наконец нас не него нее ней нельзя нет ни нибудь ниего никогда ним них но \
    ну о об од один он она они осле от оти отом отому оять раз разве ри ро с сам свою себе себя сегодня сейас \
    сказал сказала сказать со совсем так такой там тебя теерь тем то тоб тобы тогда того тоже только том тот три \
    тут ты у уж уже уть хорошо хоть эти этого этой этом этот эту я";

const STOP_SPANISH: &str = "a al algo algunas algunos ante antes como con contra cual cuando de del desde donde durante e el ella ellas \
    ellos en entre era erais eran eras eres es esa esas ese eso esos esta estaba estabais estaban estabas estad \
    estada estadas estado estados estamos estando estar estaremos estará estarán estarás estaré estaréis estaría \
    estaríais estaríamos estarían estarías estas este estemos esto estos estoy estuve estuviera estuvierais \
    estuvieran estuvieras estuvieron estuviese estuvieseis estuviesen estuvieses estuvimos estuviste estuvisteis \
    estuviéramos estuviésemos estuvo está estábamos estáis están estás esté estéis estén estés fue fuera fuerais \
    fueran fueras fueron fuese fueseis fuesen fueses fui fuimos fuiste fuisteis fuéramos fuésemos ha habida \
    habidas habido habidos habiendo habremos habrá habrán habrás habré habréis habría habríais habríamos habrían \
    habrías habéis había habíais habíamos habían habías han has hasta hay haya hayamos hayan hayas hayáis he \
    hemos hube hubiera hubierais hubieran hubieras hubieron hubiese hubieseis hubiesen hubieses hubimos hubiste \
    hubisteis hubiéramos hubiésemos hubo la las le les lo los me mi mis mucho muchos muy más mí mía mías mío míos \
    nada ni no nos nosotras nosotros nuestra nuestras nuestro nuestros o os otra otras otro otros para pero poco \
    por porque que quien quienes qué se sea seamos sean seas seremos será serán serás seré seréis sería seríais \
    seríamos serían serías seáis sido siendo sin sobre sois somos son soy su sus suya suyas suyo suyos sí también \
    tanto te tendremos tendrá tendrán tendrás tendré tendréis tendría tendríais tendríamos tendrían tendrías \
    tened tenemos tenga tengamos tengan tengas tengo tengáis tenida tenidas tenido tenidos teniendo tenéis tenía \
    teníais teníamos tenían tenías ti tiene tienen tienes todo todos tu tus tuve tuviera tuvierais tuvieran \
    tuvieras tuvieron tuviese tuvieseis tuviesen tuvieses tuvimos tuviste tuvisteis tuviéramos tuviésemos tuvo \
    tuya tuyas tuyo tuyos tú un una uno unos vosotras vosotros vuestra vuestras vuestro vuestros y ya yo él \
    éramos";

const STOP_SWEDISH: &str = "alla allt att av blev bli blir blivit de dem den denna deras dess dessa det detta dig din dina ditt du där då \
    efter ej eller en er era ert ett från för ha hade han hans har henne hennes hon honom hur här i icke ingen \
    inom inte jag ju kan kunde man med mellan men mig min mina mitt mot mycket ni nu när någon något några och om \
    oss på samma sedan sig sin sina sitta själv skulle som så sådan sådana sådant till under upp ut utan vad var \
    vara varför varit varje vars vart vem vi vid vilka vilkas vilken vilket vår våra vårt än är åt över";

const STOP_TURKISH: &str = "acaba altmýþ altý ama bana bazý belki ben benden beni benim beþ bin bir biri birkaç birkez birþey birþeyi biz \
    bizden bizi bizim bu buna bunda bundan bunu bunun da daha dahi de defa diye doksan dokuz dört elli en gibi \
    hem hep hepsi her hiç iki ile ise için katrilyon kez ki kim kimden kime kimi kýrk milyar milyon mu mü mý \
    nasýl ne neden nerde nerede nereye niye niçin on ona ondan onlar onlardan onlari onlarýn onu otuz sanki sekiz \
    seksen sen senden seni senin siz sizden sizi sizin trilyon tüm ve veya ya yani yedi yetmiþ yirmi yüz çok \
    çünkü üç þey þeyden þeyi þeyler þu þuna þunda þundan þunu";

#[cfg(test)]
mod tests {
    use super::*;
    use bson::RawDocumentBuf;
    use rand::{Rng, SeedableRng};

    fn raw(d: &Document) -> RawDocumentBuf {
        RawDocumentBuf::try_from(d).expect("encodable test document")
    }

    fn spec(key: Document, options: Document) -> TextSpec {
        TextSpec::parse(&key, &options).expect("valid text index")
    }

    fn terms(spec: &TextSpec, d: Document) -> Vec<(String, f64)> {
        spec.terms(&raw(&d)).expect("indexable document")
    }

    fn term_names(spec: &TextSpec, d: Document) -> Vec<String> {
        terms(spec, d).into_iter().map(|(t, _)| t).collect()
    }

    fn query(spec: &TextSpec, operand: Document) -> TextQuery {
        TextQuery::parse(&operand, spec).expect("valid $text operand")
    }

    /// What the caller computes: None when the document does not match, else its textScore.
    fn text_score(spec: &TextSpec, q: &TextQuery, d: &Document) -> Option<f64> {
        let doc = raw(d);
        let terms = spec.terms(&doc).expect("indexable document");
        let candidate = q.positive_terms().iter().any(|t| terms.iter().any(|(term, _)| term == t));
        let accepted = candidate && q.accepts(spec, &doc).expect("matchable document");
        assert_eq!(accepted, q.matches(spec, &doc).expect("matchable document"));
        accepted.then(|| q.score(&terms))
    }

    /// The ids of the documents matching `operand`.
    fn matching(spec: &TextSpec, docs: &[Document], operand: Document) -> Vec<i32> {
        let q = query(spec, operand);
        docs.iter().filter(|d| text_score(spec, &q, d).is_some()).map(|d| d.get_i32("_id").expect("test documents have int _ids")).collect()
    }

    fn error(result: Result<impl std::fmt::Debug, DocError>) -> (i32, String) {
        let e = result.expect_err("an error");
        (e.code, e.message)
    }

    /// The manual's `$text` examples collection.
    fn articles() -> Vec<Document> {
        vec![
            doc! { "_id": 1, "subject": "coffee", "author": "xyz", "views": 50 },
            doc! { "_id": 2, "subject": "Coffee Shopping", "author": "efg", "views": 5 },
            doc! { "_id": 3, "subject": "Baking a cake", "author": "abc", "views": 90 },
            doc! { "_id": 4, "subject": "baking", "author": "xyz", "views": 100 },
            doc! { "_id": 5, "subject": "Café Con Leche", "author": "abc", "views": 200 },
            doc! { "_id": 6, "subject": "Сырники", "author": "jkl", "views": 80 },
            doc! { "_id": 7, "subject": "coffee and cream", "author": "efg", "views": 10 },
            doc! { "_id": 8, "subject": "Cafe con Leche", "author": "xyz", "views": 10 },
        ]
    }

    fn subject_index() -> TextSpec {
        spec(doc! { "subject": "text" }, doc! {})
    }

    #[test]
    fn meta_text_score_manual_example() {
        // $meta manual page: grouping by {$meta: "textScore"} for $search "cake" gives
        // {_id: 0.75, count: 1}, {_id: 0.6666666666666666, count: 1}, {_id: 1, count: 2}.
        let s = spec(doc! { "title": "text" }, doc! {});
        let q = query(&s, doc! { "$search": "cake" });
        let titles = ["cakes and ale", "more cakes", "bread", "some cakes", "two cakes to go", "pie"];
        let scores: Vec<Option<f64>> = titles.iter().map(|t| text_score(&s, &q, &doc! { "title": *t })).collect();
        assert_eq!(scores, vec![Some(0.75), Some(1.0), None, Some(1.0), Some(0.6666666666666666), None]);
    }

    #[test]
    fn text_page_examples() {
        let s = subject_index();
        let docs = articles();
        assert_eq!(matching(&s, &docs, doc! { "$search": "coffee" }), vec![1, 2, 7]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "bake coffee cake" }), vec![1, 2, 3, 4, 7]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "\"coffee shop\"" }), vec![2]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "coffee -shop" }), vec![1, 7]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "Coffee", "$caseSensitive": true }), vec![2]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "\"Café Con Leche\"", "$caseSensitive": true }), vec![5]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "Coffee -shop", "$caseSensitive": true }), vec![2]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "CAFÉ", "$diacriticSensitive": true }), vec![5]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "CAFÉ" }), vec![5, 8]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "сырники" }), vec![6]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "leche", "$language": "es" }), vec![5, 8]);
        // "Return the text search score": "Baking a cake" scores 0.75 for "cake tea".
        let q = query(&s, doc! { "$search": "cake tea" });
        assert_eq!(text_score(&s, &q, &docs[2]), Some(0.75));
        // "coffee" stems to "coffe", which is not the whole string: no exact-match boost.
        let q = query(&s, doc! { "$search": "coffee" });
        let scores: Vec<Option<f64>> = docs.iter().map(|d| text_score(&s, &q, d)).collect();
        assert_eq!(scores, vec![Some(1.0), Some(0.75), None, None, None, None, Some(0.75), None]);
    }

    #[test]
    fn score_formula_by_hand() {
        let s = spec(doc! { "t": "text" }, doc! {});
        // coffe x3 of 4 tokens: freq 1 + 1/2 + 1/4 = 1.75, coefficient 0.5 * 3/4 + 0.5 = 0.875.
        assert_eq!(
            terms(&s, doc! { "t": "coffee Coffee COFFEE tea" }),
            vec![("coffe".to_string(), 1.75 * 0.875), ("tea".to_string(), 0.625)]
        );
        // A term that is the whole string (ASCII case aside) gets the 1.1 boost...
        assert_eq!(terms(&s, doc! { "t": "Cake" }), vec![("cake".to_string(), 1.1)]);
        // ...but not when stemming or punctuation changed it.
        assert_eq!(terms(&s, doc! { "t": "cakes" }), vec![("cake".to_string(), 1.0)]);
        assert_eq!(terms(&s, doc! { "t": "cake!" }), vec![("cake".to_string(), 1.0)]);
        // Strings of an array are scored separately and summed.
        assert_eq!(terms(&s, doc! { "t": ["cake", "cake pie"] }), vec![("cake".to_string(), 1.1 + 0.75), ("pie".to_string(), 0.75)]);
        assert_eq!(terms(&s, doc! { "t": 5, "u": "cake" }), vec![]);
        assert_eq!(terms(&s, doc! {}), vec![]);
    }

    #[test]
    fn weights_multiply_scores() {
        let s = spec(doc! { "title": "text", "body": "text" }, doc! { "weights": { "title": 10 } });
        assert_eq!(s.weights, vec![("body".to_string(), 1), ("title".to_string(), 10)]);
        let t = terms(&s, doc! { "title": "cake", "body": "Cake and pie" });
        let cake = 10.0 * 1.0 * 1.0 * (1.0 + 0.1) + 0.75;
        assert_eq!(t, vec![("cake".to_string(), cake), ("pie".to_string(), 0.75)]);
        assert!((cake - 11.75).abs() < 1e-12);
        let q = query(&s, doc! { "$search": "cake pie" });
        assert_eq!(text_score(&s, &q, &doc! { "title": "cake", "body": "Cake and pie" }), Some(cake + 0.75));
        // A weight for a field not in the key adds that field.
        let s = spec(doc! { "a": "text" }, doc! { "weights": { "b": 3 } });
        assert_eq!(s.weights, vec![("a".to_string(), 1), ("b".to_string(), 3)]);
        assert_eq!(terms(&s, doc! { "b": "pie" }), vec![("pie".to_string(), 3.0 * 1.1)]);
    }

    #[test]
    fn stop_words_are_not_terms() {
        let s = spec(doc! { "t": "text" }, doc! {});
        assert_eq!(terms(&s, doc! { "t": "The and of a but IF" }), vec![]);
        // English keeps apostrophes in words: "don't" is a stop word, "don’t" two tokens.
        assert_eq!(term_names(&s, doc! { "t": "don't" }), Vec::<String>::new());
        assert_eq!(term_names(&s, doc! { "t": "don’t" }), vec!["don", "t"]);
        // Stop words count for nothing in the score either: 1 token here.
        assert_eq!(terms(&s, doc! { "t": "the cake" }), vec![("cake".to_string(), 1.0)]);
        let q = query(&s, doc! { "$search": "the and" });
        assert!(q.positive_terms().is_empty());
        assert_eq!(text_score(&s, &q, &doc! { "t": "the and" }), None);
        // Language none: no stop words.
        let none = spec(doc! { "t": "text" }, doc! { "default_language": "none" });
        assert_eq!(term_names(&none, doc! { "t": "the cake" }), vec!["cake", "the"]);
    }

    #[test]
    fn stemming_follows_the_language() {
        let s = spec(doc! { "t": "text" }, doc! {});
        assert_eq!(term_names(&s, doc! { "t": "running runs" }), vec!["run"]);
        let q = query(&s, doc! { "$search": "run" });
        assert_eq!(q.positive_terms(), ["run"]);
        assert!(text_score(&s, &q, &doc! { "t": "He runs" }).is_some());
        let none = spec(doc! { "t": "text" }, doc! { "default_language": "none" });
        assert_eq!(term_names(&none, doc! { "t": "running runs" }), vec!["running", "runs"]);
        let q = query(&none, doc! { "$search": "run" });
        assert_eq!(text_score(&none, &q, &doc! { "t": "running runs" }), None);
        // $language picks the query's stemmer.
        let q = query(&none, doc! { "$search": "running", "$language": "EN" });
        assert_eq!(q.positive_terms(), ["run"]);
        assert_eq!(q.language(), "english");
    }

    #[test]
    fn diacritics_fold() {
        let s = spec(doc! { "t": "text" }, doc! {});
        assert_eq!(term_names(&s, doc! { "t": "Café naïve Ångström" }), vec!["angstrom", "cafe", "naiv"]);
        let q = query(&s, doc! { "$search": "cafe" });
        assert!(text_score(&s, &q, &doc! { "t": "café" }).is_some());
        let q = query(&s, doc! { "$search": "café" });
        assert!(text_score(&s, &q, &doc! { "t": "CAFE" }).is_some());
        let q = query(&s, doc! { "$search": "café", "$diacriticSensitive": true });
        assert!(text_score(&s, &q, &doc! { "t": "Café" }).is_some());
        assert_eq!(text_score(&s, &q, &doc! { "t": "cafe" }), None);
        // Phrases fold the same way unless asked not to.
        let q = query(&s, doc! { "$search": "\"cafe creme\"" });
        assert!(text_score(&s, &q, &doc! { "t": "Un CAFÉ CRÈME" }).is_some());
        let q = query(&s, doc! { "$search": "\"cafe creme\"", "$diacriticSensitive": true });
        assert_eq!(text_score(&s, &q, &doc! { "t": "Un CAFÉ CRÈME" }), None);
    }

    #[test]
    fn language_override_field() {
        let s = spec(doc! { "t": "text", "sub.t": "text" }, doc! {});
        // Spanish: "las" is a stop word and "casas" stems to "cas"; English keeps both.
        assert_eq!(term_names(&s, doc! { "language": "spanish", "t": "las casas" }), vec!["cas"]);
        assert_eq!(term_names(&s, doc! { "t": "las casas" }), vec!["casa", "las"]);
        // An embedded document can have its own language, inherited below it.
        assert_eq!(term_names(&s, doc! { "t": "las", "sub": { "language": "es", "t": "las casas" } }), vec!["cas", "las"]);
        assert_eq!(term_names(&s, doc! { "language": "ES", "t": "las", "sub": { "t": "las casas" } }), vec!["cas"]);
        // A custom override field.
        let idioma = spec(doc! { "t": "text" }, doc! { "language_override": "idioma", "default_language": "spanish" });
        assert_eq!(term_names(&idioma, doc! { "t": "las casas" }), vec!["cas"]);
        assert_eq!(term_names(&idioma, doc! { "idioma": "english", "language": "spanish", "t": "las casas" }), vec!["casa", "las"]);
        assert_eq!(
            error(s.terms(&raw(&doc! { "language": "klingon", "t": "x" }))),
            (17262, "language override unsupported: klingon".into())
        );
        assert_eq!(error(s.terms(&raw(&doc! { "language": 1, "t": "x" }))).0, 17261);
        assert_eq!(error(s.terms(&raw(&doc! { "t": "x", "sub": { "language": "xx" } }))).0, 17262);
        // A Spanish query stems Spanish words the way the Spanish document was indexed.
        let q = query(&s, doc! { "$search": "casas", "$language": "spanish" });
        assert!(text_score(&s, &q, &doc! { "language": "spanish", "t": "las casas" }).is_some());
    }

    #[test]
    fn search_string_syntax() {
        let s = spec(doc! { "t": "text" }, doc! {});
        let q = query(&s, doc! { "$search": "  \"coffee shop\" -\"cafe con leche\" -tea-cakes bake- x - pie" });
        assert_eq!(q.phrases(), ["coffee shop"]);
        assert_eq!(q.negated_phrases(), ["cafe con leche"]);
        assert_eq!(q.positive_terms(), ["bake", "coffe", "pie", "shop", "x"]);
        assert_eq!(q.negated_terms().collect::<Vec<_>>(), ["cake", "tea"]);
        // A '-' inside a word splits it; one after a space but before a quote negates the phrase.
        let q = query(&s, doc! { "$search": "foo-bar -\"a b\"-\"c d\" e" });
        assert_eq!(q.positive_terms(), ["bar", "e", "foo"]);
        assert_eq!(q.negated_phrases(), ["a b", "c d"]);
        // An unterminated phrase is only words; tabs are not separators of the syntax.
        let q = query(&s, doc! { "$search": "\"open phrase\t-word" });
        assert!(q.phrases().is_empty());
        assert_eq!(q.positive_terms(), ["open", "phrase", "word"]);
        assert_eq!(q.search(), "\"open phrase\t-word");
    }

    #[test]
    fn negations_and_phrases_filter_candidates() {
        let s = spec(doc! { "t": "text", "u": "text" }, doc! {});
        let docs = vec![
            doc! { "_id": 1, "t": "Coffee shop on the corner", "u": "tea" },
            doc! { "_id": 2, "t": "coffee", "u": ["cake", "a coffee shop"] },
            doc! { "_id": 3, "t": "shop for coffee" },
            doc! { "_id": 4, "t": "coffee-cakes" },
        ];
        assert_eq!(matching(&s, &docs, doc! { "$search": "coffee" }), vec![1, 2, 3, 4]);
        // Every positive phrase must be there, in some indexed string.
        assert_eq!(matching(&s, &docs, doc! { "$search": "\"coffee shop\"" }), vec![1, 2]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "\"coffee shop\" \"corner\"" }), vec![1]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "coffee -cake" }), vec![1, 3]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "coffee -tea" }), vec![2, 3, 4]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "coffee -\"coffee shop\"" }), vec![3, 4]);
        // A negated stop word is dropped like any stop word: it excludes nothing.
        assert_eq!(matching(&s, &docs, doc! { "$search": "coffee -the" }), vec![1, 2, 3, 4]);
        // Only negations: nothing to look up, nothing matches.
        assert_eq!(matching(&s, &docs, doc! { "$search": "-coffee" }), Vec::<i32>::new());
        // Phrase words are positive terms: the phrase's documents are candidates.
        let q = query(&s, doc! { "$search": "\"shop for\"" });
        assert_eq!(q.positive_terms(), ["shop"]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "\"shop for\"" }), vec![3]);
    }

    #[test]
    fn case_sensitive() {
        let s = spec(doc! { "t": "text" }, doc! {});
        let docs = vec![doc! { "_id": 1, "t": "Running fast" }, doc! { "_id": 2, "t": "running late" }, doc! { "_id": 3, "t": "RUNNING" }];
        assert_eq!(matching(&s, &docs, doc! { "$search": "running" }), vec![1, 2, 3]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "Running", "$caseSensitive": true }), vec![1]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "run -Running", "$caseSensitive": true }), vec![2]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "\"RUNNING\"", "$caseSensitive": true }), vec![3]);
        assert_eq!(matching(&s, &docs, doc! { "$search": "\"running\"", "$caseSensitive": false }), vec![1, 2, 3]);
        let q = query(&s, doc! { "$search": "Running", "$caseSensitive": true });
        // The lookup terms stay folded; the matcher compares the cased stem.
        assert_eq!(q.positive_terms(), ["run"]);
        assert!(q.case_sensitive() && !q.diacritic_sensitive());
        // Turkish folds I to dotless ı, in phrases too.
        let tr = spec(doc! { "t": "text" }, doc! { "default_language": "turkish" });
        let q = query(&tr, doc! { "$search": "\"ISTANBUL\"" });
        assert!(q.accepts(&tr, &raw(&doc! { "t": "ıstanbul" })).expect("matchable"));
        let q = query(&s, doc! { "$search": "\"ISTANBUL\"" });
        assert!(!q.accepts(&s, &raw(&doc! { "t": "ıstanbul" })).expect("matchable"));
    }

    #[test]
    fn malformed_operands() {
        let s = subject_index();
        let parse = |operand: Document| error(TextQuery::parse(&operand, &s));
        assert_eq!(parse(doc! { "$search": 1 }), (14, "\"$search\" had the wrong type. Expected string, found int".into()));
        assert_eq!(parse(doc! {}), (4, "Missing expected field \"$search\"".into()));
        assert_eq!(parse(doc! { "$language": "en" }), (4, "Missing expected field \"$search\"".into()));
        assert_eq!(parse(doc! { "$search": "a", "$unknown": 1 }), (2, "extra fields in $text".into()));
        assert_eq!(parse(doc! { "$search": "a", "search": "b" }), (2, "extra fields in $text".into()));
        assert_eq!(parse(doc! { "$search": "a", "$language": 1 }).0, 14);
        assert_eq!(
            parse(doc! { "$search": "a", "$caseSensitive": "yes" }),
            (14, "\"$caseSensitive\" had the wrong type. Expected bool, found string".into())
        );
        assert_eq!(parse(doc! { "$search": "a", "$diacriticSensitive": 1 }).0, 14);
        assert_eq!(
            parse(doc! { "$search": "a", "$language": "klingon" }),
            (2, "unsupported language: \"klingon\" for text index version 3".into())
        );
        // An empty $language means the index's.
        let q = query(&s, doc! { "$search": "a", "$language": "" });
        assert_eq!(q.language(), "english");
    }

    #[test]
    fn index_spec_parsing() {
        let parse = |key: Document, options: Document| error(TextSpec::parse(&key, &options));
        assert_eq!(parse(doc! { "a": 1 }, doc! {}).0, 67);
        assert_eq!(parse(doc! { "a": "text", "b": -1 }, doc! {}).0, 67);
        assert_eq!(parse(doc! {}, doc! {}), (67, "text index option 'weights' must specify fields or the wildcard".into()));
        assert_eq!(
            parse(doc! { "a": "text" }, doc! { "weights": { "a": 0 } }),
            (67, "text index weight must be in the exclusive interval (0,100000) but found: 0".into())
        );
        assert_eq!(parse(doc! { "a": "text" }, doc! { "weights": { "a": 100000 } }).0, 67);
        assert_eq!(parse(doc! { "a": "text" }, doc! { "weights": { "a": "x" } }).1, "weight for text index needs numeric type");
        assert_eq!(parse(doc! { "a": "text" }, doc! { "weights": 5 }).1, "text index option 'weights' must be an object");
        assert_eq!(parse(doc! { "a.$b": "text" }, doc! {}).1, "weight cannot have path component with $ prefix");
        assert_eq!(parse(doc! { "a..b": "text" }, doc! {}).1, "weight cannot have empty path component");
        assert_eq!(parse(doc! { "a": "text" }, doc! { "default_language": "klingon" }), (67, "default_language is not valid".into()));
        assert_eq!(parse(doc! { "a": "text" }, doc! { "default_language": 1 }).1, "default_language needs a string type");
        assert_eq!(parse(doc! { "a": "text" }, doc! { "language_override": "a.b" }).1, "language_override is not valid");
        assert_eq!(parse(doc! { "a": "text" }, doc! { "language_override": 1 }).1, "language_override must be a string");
        assert_eq!(parse(doc! { "a": "text" }, doc! { "textIndexVersion": 2 }).0, 67);
        assert_eq!(parse(doc! { "a": "text" }, doc! { "textIndexVersion": 9 }).1, "bad textIndexVersion: 9");
        assert_eq!(parse(doc! { "a": "text" }, doc! { "textIndexVersion": "3" }).0, 67);
        assert_eq!(parse(doc! { "_fts": "x", "_ftsx": 1 }, doc! {}).1, "expecting _fts:\"text\"");

        let s = spec(
            doc! { "title": "text", "body": "text" },
            doc! { "name": "t", "v": 2, "weights": { "title": 5.0, "tags": 2_i64 }, "default_language": "Spanish",
            "language_override": "lang", "textIndexVersion": 3 },
        );
        assert_eq!(
            s,
            TextSpec {
                weights: vec![("body".into(), 1), ("tags".into(), 2), ("title".into(), 5)],
                default_language: "Spanish".into(),
                language_override: "lang".into(),
            }
        );
        assert_eq!(
            s.to_options(),
            doc! { "weights": { "body": 1, "tags": 2, "title": 5 }, "default_language": "Spanish", "language_override": "lang",
            "textIndexVersion": 3 }
        );
        assert_eq!(TextSpec::index_key(), doc! { "_fts": "text", "_ftsx": 1 });
        // The stored form parses back to the same index.
        assert_eq!(TextSpec::parse(&TextSpec::index_key(), &s.to_options()), Ok(s));

        let w = spec(doc! { "$**": "text" }, doc! {});
        assert!(w.is_wildcard());
        assert_eq!(
            w.to_options(),
            doc! { "weights": { "$**": 1 }, "default_language": "english", "language_override": "language", "textIndexVersion": 3 }
        );
        assert_eq!(TextSpec::parse(&TextSpec::index_key(), &w.to_options()), Ok(w));
        assert!(spec(doc! { "a": "text" }, doc! { "weights": "$**" }).is_wildcard());
    }

    #[test]
    fn arrays_and_dotted_paths() {
        let s = spec(doc! { "tags": "text", "comments.text": "text" }, doc! {});
        let d = doc! {
            "tags": ["red apple", ["nested"], { "x": "object" }],
            "comments": [{ "text": "great pie" }, { "text": ["in array"] }, { "other": "unindexed" }, "bare"],
            "title": "not indexed",
        };
        assert_eq!(term_names(&s, d), vec!["appl", "array", "great", "pie", "red"]);
        let s = spec(doc! { "a.b.c": "text" }, doc! {});
        // As in MongoDB, a top-level field whose name is the dotted path counts too.
        assert_eq!(
            term_names(&s, doc! { "a": { "b": { "c": "deep word" } }, "a.b.c": "dotted name" }),
            vec!["deep", "dot", "name", "word"]
        );
        assert_eq!(term_names(&s, doc! { "a": [{ "b": [{ "c": "found" }] }] }), vec!["found"]);
    }

    #[test]
    fn wildcard_index() {
        let s = spec(doc! { "$**": "text" }, doc! {});
        // Fields named like the language override are not indexed; "b" is in language none.
        let d = doc! { "a": "apple", "b": { "c": ["berry", ["cherry"]], "language": "none" }, "n": 1, "language": "english" };
        assert_eq!(term_names(&s, d), vec!["appl", "berry", "cherry"]);
        // MongoDB's element iterator gives a wildcard index's unlisted field the weight of the
        // next listed path in byte order ("body" < "title"), and 1 past the last ("zeta").
        let s = spec(doc! { "$**": "text" }, doc! { "weights": { "title": 10 } });
        assert_eq!(
            terms(&s, doc! { "body": "pie", "title": "cake", "zeta": "tea" }),
            vec![("cake".to_string(), 10.0 * (1.0 + 0.1)), ("pie".to_string(), 10.0 * (1.0 + 0.1)), ("tea".to_string(), 1.1)]
        );
    }

    /// `{a: [[[ ... ["deep"] ... ]]]}`, built as bytes (bson's encoder recurses).
    fn nested_arrays(depth: usize) -> RawDocumentBuf {
        fn document(elements: &[u8]) -> Vec<u8> {
            let len = i32::try_from(elements.len() + 5).expect("small test document");
            let mut out = len.to_le_bytes().to_vec();
            out.extend_from_slice(elements);
            out.push(0);
            out
        }
        fn element(kind: u8, key: &str, value: &[u8]) -> Vec<u8> {
            let mut out = vec![kind];
            out.extend_from_slice(key.as_bytes());
            out.push(0);
            out.extend_from_slice(value);
            out
        }
        let mut string = 5_i32.to_le_bytes().to_vec();
        string.extend_from_slice(b"deep\0");
        let mut current = document(&element(0x02, "0", &string));
        for _ in 0..depth {
            current = document(&element(0x04, "0", &current));
        }
        RawDocumentBuf::from_bytes(document(&element(0x04, "a", &current))).expect("valid nested arrays")
    }

    #[test]
    fn deep_nesting_and_huge_strings() {
        let deep = nested_arrays(3000);
        let wildcard = spec(doc! { "$**": "text" }, doc! {});
        assert_eq!(wildcard.terms(&deep).expect("indexable").len(), 1);
        let q = query(&wildcard, doc! { "$search": "deep -nothing \"dee\"" });
        assert!(q.accepts(&wildcard, &deep).expect("matchable"));
        // A named field does not enter arrays nested in arrays.
        let named = spec(doc! { "a": "text" }, doc! {});
        assert_eq!(named.terms(&deep).expect("indexable"), vec![]);

        let words = "lorem ipsum dolor sit amet ".repeat(40_000);
        let t = terms(&wildcard, doc! { "t": words.as_str() });
        assert_eq!(t.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>(), ["amet", "dolor", "ipsum", "lorem", "sit"]);
        assert!(t.iter().all(|(_, score)| score.is_finite() && *score > 0.0));
        let one_token = "x".repeat(1 << 20);
        assert_eq!(terms(&wildcard, doc! { "t": one_token.as_str() }).len(), 1);
        let q = query(&wildcard, doc! { "$search": one_token.as_str() });
        assert_eq!(q.positive_terms().len(), 1);
    }

    #[test]
    fn random_input_never_panics() {
        let pool: Vec<char> = "aAeEiIoOuyçñßşğıİéèëïöüœøåæ'’-\"._ \t\n^`\u{301}\u{308}ЖжΣς中😀0".chars().collect();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(17);
        let languages = [
            "none",
            "danish",
            "dutch",
            "english",
            "finnish",
            "french",
            "german",
            "hungarian",
            "italian",
            "norwegian",
            "portuguese",
            "romanian",
            "russian",
            "spanish",
            "swedish",
            "turkish",
        ];
        let wildcard = spec(doc! { "$**": "text" }, doc! {});
        for round in 0..400 {
            let mut text = || -> String { (0..rng.random_range(0..40)).map(|_| pool[rng.random_range(0..pool.len())]).collect() };
            let (a, b, search) = (text(), text(), text());
            let language = languages[round % languages.len()];
            let d = raw(&doc! { "language": language, "a": a, "b": [b, { "c": "x" }] });
            let terms = wildcard.terms(&d).expect("indexable");
            assert!(terms.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(terms.iter().all(|(_, score)| *score > 0.0));
            for (case, diacritic) in [(false, false), (true, false), (false, true), (true, true)] {
                let operand =
                    doc! { "$search": search.as_str(), "$language": language, "$caseSensitive": case, "$diacriticSensitive": diacritic };
                let q = query(&wildcard, operand);
                q.accepts(&wildcard, &d).expect("matchable");
                q.matches(&wildcard, &d).expect("matchable");
            }
        }
    }
}

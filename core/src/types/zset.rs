//! TEMPORARY naive sorted set (replaced by the order-statistic version).
use std::collections::{BTreeSet, HashMap};
#[derive(Clone, Copy, PartialEq, PartialOrd, Debug)]
struct S(f64);
impl Eq for S {}
impl Ord for S {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.partial_cmp(&o.0).unwrap()
    }
}
#[derive(Default, Clone, Debug)]
pub struct ZSet {
    map: HashMap<Box<[u8]>, f64>,
    tree: BTreeSet<(S, Box<[u8]>)>,
}
impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn score(&self, m: &[u8]) -> Option<f64> {
        self.map.get(m).copied()
    }
    pub fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
        let s = if s == 0.0 { 0.0 } else { s };
        let old = self.remove(m);
        self.map.insert(m.into(), s);
        self.tree.insert((S(s), m.into()));
        old
    }
    pub fn remove(&mut self, m: &[u8]) -> Option<f64> {
        let s = self.map.remove(m)?;
        self.tree.remove(&(S(s), m.into()));
        Some(s)
    }
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let s = self.score(m)?;
        Some(self.tree.range(..(S(s), Box::<[u8]>::from(m))).count())
    }
    pub fn get_by_rank(&self, r: usize) -> Option<(&[u8], f64)> {
        self.tree.iter().nth(r).map(|(s, m)| (&**m, s.0))
    }
    pub fn iter_from(&self, r: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.tree.iter().skip(r).map(|(s, m)| (&**m, s.0))
    }
    pub fn iter_rev_from(&self, r: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let n = self.len();
        self.tree.iter().rev().skip(if r >= n { n } else { n - 1 - r }).map(|(s, m)| (&**m, s.0))
    }
    pub fn count_below_score(&self, s: f64, inc: bool) -> usize {
        self.tree.iter().filter(|(x, _)| if inc { x.0 <= s } else { x.0 < s }).count()
    }
    pub fn count_below_member(&self, m: &[u8], inc: bool) -> usize {
        self.tree.iter().filter(|(_, x)| if inc { &**x <= m } else { &**x < m }).count()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.map.iter().map(|(m, s)| (&**m, *s))
    }
    pub fn mem_usage(&self) -> usize {
        self.map.keys().map(|k| k.len() * 2 + 64).sum()
    }
    pub fn remove_range_by_rank(&mut self, a: usize, b: usize) -> usize {
        let ms: Vec<Box<[u8]>> = self.tree.iter().skip(a).take(b + 1 - a).map(|(_, m)| m.clone()).collect();
        for m in &ms {
            self.remove(m);
        }
        ms.len()
    }
}

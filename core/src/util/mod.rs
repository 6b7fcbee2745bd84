//! Small pure helpers shared by the command families: Redis number parsing/formatting and glob.

pub(crate) mod glob;
pub(crate) mod ldouble;
pub(crate) mod num;

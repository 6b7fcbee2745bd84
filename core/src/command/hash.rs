//! placeholder
use super::CommandSpec;
pub(crate) const COMMANDS: &[CommandSpec] = &[];

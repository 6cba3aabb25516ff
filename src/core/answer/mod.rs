//! What a model said, made fit for the earpiece: [`parse`] reads the answer
//! in whatever shape it came, [`speech`] cleans it into speakable words,
//! [`judge`] decides whether it may be spoken (screening a stream word by
//! word), [`people`] reads who a line names and what it does to them, and
//! [`moderation`] reads Llama Guard's verdict.

pub mod judge;
pub mod moderation;
pub mod parse;
pub mod people;
pub mod speech;

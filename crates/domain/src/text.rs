//! Text from applicants and officers: the one module every crate uses ([`motcua_text`]), under
//! the name the services have always imported it by.

pub use motcua_text::{Invalid, clean_multiline, clean_text, dong, fold, mask_name, quote};

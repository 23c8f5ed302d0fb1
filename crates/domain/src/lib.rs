//! The words every motcua service shares (DESIGN.md §1–2), in one place:
//!
//! - [`agency`]: electronic agency codes; [`dossier_code`]: `{agency}-{yyMMdd}-{seq}`.
//! - [`status`]: dossier statuses, their national portal codes and Vietnamese labels.
//! - [`text`]: cleaning applicants' text, masking names for the public.
//! - [`secrets`]: keyed hashes of the secrets an applicant looks a dossier up with.
//! - [`catalog`]: levels and the channels they allow, document forms, processing times in words.
//! - [`fields`]: the fields (lĩnh vực) of DESIGN.md §1.
//! - [`links`]: the receipt's QR link to the public tracking page.
//! - [`events`]: event names, subjects and decoding a dossier event by its type.
//! - [`calendars`]: working-time calendars per agency from the holiday and hours settings.
//! - [`time`]: protobuf timestamps and the Vietnam calendar day.
//! - [`settings`]: reading the calendar's and the hash keys' settings from any variables.

pub mod agency;
pub mod calendars;
pub mod catalog;
pub mod dossier_code;
pub mod events;
pub mod fields;
pub mod links;
pub mod secrets;
pub mod settings;
pub mod status;
pub mod text;
pub mod time;

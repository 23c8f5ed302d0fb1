//! Generated code for the motcua contracts (`proto/motcua/**`).
//!
//! Packages: `motcua.common.v1` (shared words), `motcua.events.v1` (JetStream payloads) and one
//! `motcua.<service>.v1` per service. The encoded descriptor set feeds gRPC reflection.

#![allow(missing_debug_implementations, clippy::all)]

pub mod motcua {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("motcua.common.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("motcua.events.v1");
        }
    }
    pub mod intake {
        pub mod v1 {
            tonic::include_proto!("motcua.intake.v1");
        }
    }
    pub mod workflow {
        pub mod v1 {
            tonic::include_proto!("motcua.workflow.v1");
        }
    }
    pub mod notification {
        pub mod v1 {
            tonic::include_proto!("motcua.notification.v1");
        }
    }
    pub mod lookup {
        pub mod v1 {
            tonic::include_proto!("motcua.lookup.v1");
        }
    }
    pub mod reporting {
        pub mod v1 {
            tonic::include_proto!("motcua.reporting.v1");
        }
    }
}

pub use motcua::{common::v1 as common, events::v1 as events, intake::v1 as intake};
pub use motcua::{lookup::v1 as lookup, notification::v1 as notification};
pub use motcua::{reporting::v1 as reporting, workflow::v1 as workflow};

/// Encoded `FileDescriptorSet` of every motcua file, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("motcua_descriptor");

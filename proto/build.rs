//! Compiles the contracts with protox (pure Rust), so building needs no system protoc.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "motcua/common/v1/common.proto",
    "motcua/events/v1/events.proto",
    "motcua/intake/v1/intake.proto",
    "motcua/workflow/v1/workflow.proto",
    "motcua/notification/v1/notification.proto",
    "motcua/lookup/v1/lookup.proto",
    "motcua/reporting/v1/reporting.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build's own rerun option does not cover protox inputs; say it ourselves.
    for file in FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let fds = protox::compile(FILES, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // The descriptor set for gRPC reflection; compile_fds does not write one itself.
    std::fs::write(
        out.join("motcua_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}

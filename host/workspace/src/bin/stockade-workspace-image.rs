//! Builds a workspace image locally and prints its id for the configuration to pin:
//! `stockade-workspace-image busybox|debian [TAG]` (the daemon from `DOCKER_HOST`, else the
//! private socket of `.ci/dockerd.sh`).

use std::process::ExitCode;

use stockade_workspace::{
    DEFAULT_IMAGE, DockerBackend, ImageRecipe, RuntimeChoice, TEST_IMAGE, build_image, docker_host,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (recipe, default_tag) = match args.first().map(String::as_str) {
        Some("busybox") => (ImageRecipe::Busybox, TEST_IMAGE),
        Some("debian") => (ImageRecipe::Debian, DEFAULT_IMAGE),
        _ => {
            eprintln!("usage: stockade-workspace-image busybox|debian [TAG]");
            return ExitCode::from(2);
        }
    };
    let tag = args.get(1).map_or(default_tag, String::as_str);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let backend = DockerBackend::connect(&docker_host(), RuntimeChoice::default()).await?;
        build_image(backend.docker(), recipe, tag).await
    });
    match result {
        Ok(built) => {
            println!("{} {}", built.reference, built.id);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}

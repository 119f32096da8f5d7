//! Workspace images, built locally from Debian packages (no registry is involved): a root
//! filesystem in a temporary directory, imported as a single-layer image. The returned id is
//! what a configuration pins ([`ImageProfile::pinned`](crate::ImageProfile::pinned)).

use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt as _;
use tokio::process::Command;

use crate::WorkspaceError;

/// The tag the test image gets by default (`.ci/dockerd.sh` builds the same one).
pub const TEST_IMAGE: &str = "stockade/workspace-test:busybox";
/// The tag the default image gets by default.
pub const DEFAULT_IMAGE: &str = "stockade/workspace:bookworm";

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRecipe {
    /// Debian's `busybox-static` as the whole root filesystem (about 2 MB; seconds). The
    /// host needs the `busybox-static` package.
    Busybox,
    /// Debian bookworm (minbase) with bash, coreutils, git and ca-certificates, by `debootstrap`
    /// from the Debian mirror (minutes). The host needs the `debootstrap` package.
    Debian,
}

/// A built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The tag it was given.
    pub reference: String,
    /// The image id (`sha256:...`) to pin.
    pub id: String,
}

/// Builds `recipe` and tags it `reference` (e.g. [`TEST_IMAGE`]).
pub async fn build_image(
    docker: &Docker,
    recipe: ImageRecipe,
    reference: &str,
) -> Result<BuiltImage, WorkspaceError> {
    let fail = |reason: String| WorkspaceError::ImageBuild {
        image: reference.to_owned(),
        reason,
    };
    let work = tempfile_dir().map_err(|e| fail(format!("temporary directory: {e}")))?;
    let root = work.join("root");
    let result = async {
        match recipe {
            ImageRecipe::Busybox => busybox_root(&root).await?,
            ImageRecipe::Debian => debian_root(&root).await?,
        }
        let tar = work.join("root.tar");
        run(Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."))
        .await?;
        let bytes = tokio::fs::read(&tar)
            .await
            .map_err(|e| format!("read {}: {e}", tar.display()))?;
        import(docker, reference, bytes, recipe).await
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    let id = result.map_err(fail)?;
    Ok(BuiltImage {
        reference: reference.to_owned(),
        id,
    })
}

async fn import(
    docker: &Docker,
    reference: &str,
    tar: Vec<u8>,
    recipe: ImageRecipe,
) -> Result<String, String> {
    let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let path = match recipe {
        ImageRecipe::Busybox => "/bin",
        ImageRecipe::Debian => "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    };
    let options = CreateImageOptions {
        from_src: Some("-".to_owned()),
        repo: Some(repo.to_owned()),
        tag: Some(tag.to_owned()),
        changes: vec![format!("ENV PATH={path}"), "CMD [\"/bin/sh\"]".to_owned()],
        ..Default::default()
    };
    let mut progress =
        docker.create_image(Some(options), Some(bollard::body_full(tar.into())), None);
    while let Some(item) = progress.next().await {
        item.map_err(|e| format!("import: {e}"))?;
    }
    let inspect = docker
        .inspect_image(reference)
        .await
        .map_err(|e| format!("inspect after import: {e}"))?;
    inspect
        .id
        .ok_or_else(|| "the imported image has no id".to_owned())
}

async fn busybox_root(root: &Path) -> Result<(), String> {
    let busybox = Path::new("/bin/busybox");
    for dir in ["bin", "tmp", "workspace", "etc", "proc", "sys", "dev"] {
        tokio::fs::create_dir_all(root.join(dir))
            .await
            .map_err(|e| e.to_string())?;
    }
    tokio::fs::copy(busybox, root.join("bin/busybox"))
        .await
        .map_err(|e| format!("copy /bin/busybox (apt-get install busybox-static): {e}"))?;
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .await
        .map_err(|e| format!("busybox --list: {e}"))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.contains('/') {
            let _ = tokio::fs::symlink("busybox", root.join("bin").join(applet)).await;
        }
    }
    write_identity(root).await
}

async fn debian_root(root: &Path) -> Result<(), String> {
    run(Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=bash,coreutils,git,ca-certificates",
        ])
        .arg("bookworm")
        .arg(root)
        .arg("http://deb.debian.org/debian"))
    .await?;
    tokio::fs::create_dir_all(root.join("workspace"))
        .await
        .map_err(|e| e.to_string())?;
    // Nothing of the build host's apt caches in the image.
    let _ = tokio::fs::remove_dir_all(root.join("var/cache/apt/archives")).await;
    Ok(())
}

async fn write_identity(root: &Path) -> Result<(), String> {
    tokio::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    )
    .await
    .map_err(|e| e.to_string())?;
    tokio::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
        .await
        .map_err(|e| e.to_string())
}

async fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .await
        .map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "stockade-image-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

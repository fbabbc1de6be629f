//! `seam bundle build | inspect | test | sign | verify` and `seam keygen`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use seam_bundle::{self as bundle, Bundle, TrustPolicy};

use super::progress::Activity;
use super::{EngineArgs, Exit, Format};

/// Arguments of `seam bundle`.
#[derive(Args, Debug)]
pub struct BundleArgs {
    #[command(subcommand)]
    command: BundleCommand,
}

#[derive(Subcommand, Debug)]
enum BundleCommand {
    /// Build a bundle from a source folder (its bundle.toml names the built components).
    Build {
        /// The source folder.
        dir: PathBuf,
        /// Where to write it (default: NAME-VERSION.seam in the current folder; a path
        /// without the .seam extension is written as a directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Do not run the plugins' `build` commands; use the files as they are.
        #[arg(long)]
        no_build: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Show a bundle's plugins, kinds, versions, schemas, digests, imports and signatures.
    Inspect {
        bundle: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Run the bundle's test cases through the real host.
    Test {
        bundle: PathBuf,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Sign the bundle's manifest (which pins every file) with a secret key.
    Sign {
        bundle: PathBuf,
        /// The secret key file (from `seam keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Check digests and signatures; exit 0 only when the bundle may be loaded.
    Verify {
        bundle: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

/// Who is trusted.
#[derive(Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// A trusted public key (`seam-ed25519-public:HEX` or a .pub file); repeatable.
    #[arg(long = "trusted-key", value_name = "KEY")]
    pub trusted_keys: Vec<String>,
    /// Refuse bundles without a valid signature by a trusted key (implied by
    /// --trusted-key).
    #[arg(long)]
    pub require_signature: bool,
}

impl TrustArgs {
    pub fn policy(&self) -> Result<TrustPolicy> {
        let trusted_keys = self
            .trusted_keys
            .iter()
            .map(|k| bundle::parse_public_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustPolicy {
            require_signature: self.require_signature || !trusted_keys.is_empty(),
            trusted_keys,
        })
    }
}

/// Arguments of `seam keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (secret; keep it private) and PREFIX.pub.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
}

pub fn keygen(args: KeygenArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let secret = args.out.with_extension("key");
    let public = args.out.with_extension("pub");
    for path in [&secret, &public] {
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} exists; refusing to overwrite a key: choose another --out PREFIX",
                path.display()
            );
        }
    }
    let (s, p) = bundle::generate_key()?;
    write_new(&secret, &s, 0o600)?;
    if let Err(e) = write_new(&public, &p, 0o644) {
        // Half a key pair is no use: take the secret back out.
        let _ = std::fs::remove_file(&secret);
        return Err(e);
    }
    writeln!(
        out,
        "secret key: {} (keep it private)\npublic key: {}\n{p}",
        secret.display(),
        public.display()
    )?;
    Ok(Exit::Passed)
}

/// Refuses a `seam bundle build` destination that would overwrite what the build
/// reads: the source folder, its manifest or any file in it, or (for a folder bundle)
/// a folder that already holds files.
fn refuse_bundle_dest(source: &std::path::Path, dest: &std::path::Path) -> Result<()> {
    use seam_types::files::FileId;
    super::io::note_input(source, "bundle source folder");
    if let Ok(entries) = std::fs::read_dir(source) {
        for entry in entries.flatten() {
            super::io::note_input(&entry.path(), "bundle source file");
        }
    }
    for file in bundle::source_files(source) {
        super::io::note_input(&file, "built component");
    }
    super::io::refuse_if_input(dest, "bundle")?;
    let folder_bundle = dest.is_dir() || dest.extension().is_none_or(|e| e != "seam");
    if folder_bundle {
        if let (Some(a), Some(b)) = (FileId::of(source), FileId::of(dest)) {
            if a == b {
                bail!(
                    "refusing to write the bundle into {}: it is the source folder; give \
                     --out a new folder or a NAME.seam file",
                    dest.display()
                );
            }
        }
        if std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some()) {
            bail!(
                "refusing to write the bundle into {}: the folder is not empty; give --out \
                 a new folder or a NAME.seam file",
                dest.display()
            );
        }
    }
    Ok(())
}

/// Runs each plugin's `build` command from `bundle.toml` in the source folder, its
/// output passed through; stops at the first that fails, naming it.
fn run_build_commands(dir: &std::path::Path, out: &mut (dyn Write + Send)) -> Result<()> {
    for c in seam_bundle::build_commands(dir)? {
        let shown = c.argv.join(" ");
        writeln!(out, "building plugin `{}`: {shown}", c.plugin)?;
        out.flush()?;
        let status = std::process::Command::new(&c.argv[0])
            .args(&c.argv[1..])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit())
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => bail!(
                "building plugin `{}` failed ({s}): `{shown}` in {}; fix it, or pass --no-build to use the file as it is",
                c.plugin,
                dir.display()
            ),
            Err(e) => bail!(
                "building plugin `{}`: cannot run `{}` ({e}); install it, or fix `build` in {}",
                c.plugin,
                c.argv[0],
                dir.join("bundle.toml").display()
            ),
        }
    }
    Ok(())
}

/// Writes a new file (never an existing one, nor through a link) with `mode`.
fn write_new(path: &std::path::Path, text: &str, mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{text}")?;
    Ok(())
}

pub fn run(args: BundleArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    match args.command {
        BundleCommand::Build {
            dir,
            out: dest,
            no_build,
            engine,
        } => {
            let runtime = engine.runtime()?;
            if !no_build {
                run_build_commands(&dir, out)?;
            }
            let activity = Activity::start(format!("building the bundle in {}", dir.display()));
            let built = seam_pipeline::bundles::build(&dir, &runtime, |plugin| {
                activity.set(format!("compiling plugin `{plugin}`"))
            })?;
            let m = &built.manifest.bundle;
            let dest =
                dest.unwrap_or_else(|| PathBuf::from(format!("{}-{}.seam", m.name, m.version)));
            refuse_bundle_dest(&dir, &dest)?;
            activity.set(format!("writing {}", dest.display()));
            built.save(&dest)?;
            drop(activity);
            writeln!(out, "built {} {} → {}", m.name, m.version, dest.display())?;
            for p in &built.manifest.plugins {
                writeln!(
                    out,
                    "  {:<16} {:<6} {:<8} sha256 {}",
                    p.name, p.kind, p.version, p.sha256
                )?;
            }
            writeln!(
                out,
                "  {} test cases; manifest sha256 {}",
                built.manifest.cases.len(),
                built.digest()
            )?;
            Ok(Exit::Passed)
        }
        BundleCommand::Inspect {
            bundle: path,
            trust,
            format,
        } => {
            let b = Bundle::open(&path)?;
            let policy = trust.policy()?;
            let files = b.verify_files();
            let signatures = b.signature_status(&policy);
            let runtime = EngineArgs::default().runtime()?;
            let mut plugins = Vec::new();
            for p in &b.manifest.plugins {
                let imports = match b.plugin(&p.name) {
                    Ok((_, source)) if files.is_ok() => {
                        runtime.imports(&source).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                let schema: serde_json::Value =
                    serde_json::from_str(&p.settings_schema).unwrap_or_default();
                plugins.push(serde_json::json!({
                    "name": p.name, "kind": p.kind, "version": p.version, "file": p.file,
                    "sha256": p.sha256, "description": p.description, "settings_schema": schema,
                    "imports": imports,
                }));
            }
            if format == Format::Json {
                let doc = serde_json::json!({
                    "bundle": b.manifest.bundle, "sha256": b.digest(), "plugins": plugins,
                    "cases": b.manifest.cases.len(),
                    "files": files.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
                    "signatures": signatures,
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
                return Ok(Exit::Passed);
            }
            let m = &b.manifest.bundle;
            writeln!(out, "{} {}  {}", m.name, m.version, m.description)?;
            if !m.authors.is_empty() || !m.license.is_empty() {
                writeln!(
                    out,
                    "  authors: {}  license: {}",
                    m.authors.join(", "),
                    m.license
                )?;
            }
            writeln!(out, "  manifest sha256 {}", b.digest())?;
            match &files {
                Ok(()) => writeln!(out, "  files: every digest matches")?,
                Err(e) => writeln!(out, "  files: {e}")?,
            }
            for p in &plugins {
                writeln!(
                    out,
                    "\n  {} {} ({})  {}",
                    p["name"].as_str().unwrap_or(""),
                    p["version"].as_str().unwrap_or(""),
                    p["kind"].as_str().unwrap_or(""),
                    p["description"].as_str().unwrap_or("")
                )?;
                writeln!(
                    out,
                    "    file {}  sha256 {}",
                    p["file"].as_str().unwrap_or(""),
                    p["sha256"].as_str().unwrap_or("")
                )?;
                let imports: Vec<&str> = p["imports"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|i| i.as_str()).collect())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "    imports: {}",
                    if imports.is_empty() {
                        "(not read)".to_string()
                    } else {
                        imports.join(", ")
                    }
                )?;
                let props: Vec<&str> = p["settings_schema"]["properties"]
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "    settings: {}",
                    if props.is_empty() {
                        "none".to_string()
                    } else {
                        props.join(", ")
                    }
                )?;
            }
            writeln!(out, "\n  {} test cases", b.manifest.cases.len())?;
            if signatures.is_empty() {
                writeln!(out, "  signatures: none")?;
            }
            for s in &signatures {
                let state = match (s.valid, s.trusted) {
                    (false, _) => "INVALID (the manifest changed after signing)",
                    (true, true) => "valid, trusted",
                    (true, false) => "valid, key not trusted here",
                };
                writeln!(out, "  signature by {}: {state}", s.key)?;
            }
            Ok(Exit::Passed)
        }
        BundleCommand::Test {
            bundle: path,
            engine,
        } => {
            let b = Bundle::open(&path)?;
            let runtime = engine.runtime()?;
            let results = seam_pipeline::bundles::run_cases(&b, &runtime)?;
            writeln!(out, "running {} cases of {}", results.len(), b.label())?;
            for r in &results {
                writeln!(
                    out,
                    "case {}/{} ... {}",
                    r.plugin,
                    r.name,
                    if r.passed { "ok" } else { "FAILED" }
                )?;
                for p in &r.problems {
                    writeln!(out, "    {p}")?;
                }
            }
            let failed = results.iter().filter(|r| !r.passed).count();
            writeln!(out, "\n{} passed, {failed} failed", results.len() - failed)?;
            Ok(if failed == 0 {
                Exit::Passed
            } else {
                Exit::Rejected
            })
        }
        BundleCommand::Sign { bundle: path, key } => {
            let mut b = Bundle::open(&path)?;
            b.verify_files()?;
            let key = bundle::read_secret_key(&key)?;
            let sig = b.sign(&key)?;
            writeln!(out, "signed {} by {}", b.label(), sig.key)?;
            Ok(Exit::Passed)
        }
        BundleCommand::Verify {
            bundle: path,
            trust,
        } => {
            let b = Bundle::open(&path)?;
            let policy = trust.policy()?;
            b.verify(&policy)?;
            let trusted = b
                .signature_status(&policy)
                .into_iter()
                .filter(|s| s.valid && s.trusted)
                .count();
            writeln!(
                out,
                "{}: every digest matches; {trusted} trusted signature(s)",
                b.label()
            )?;
            Ok(Exit::Passed)
        }
    }
}

/// Where `BUNDLE/PLUGIN` references are looked up, for `check`, `route` and `describe`.
#[derive(Args, Debug, Clone, Default)]
pub struct SearchArgs {
    /// A folder holding bundles (folders and .seam archives); repeatable. Also
    /// $SEAM_BUNDLE_PATH.
    #[arg(long = "bundle-path", value_name = "DIR")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

impl SearchArgs {
    /// The plugin `spec` names: a bundle reference (checked), a standard plugin or a file.
    pub fn source(&self, spec: &str) -> Result<seam_runtime::PluginSource> {
        let Some(r) = bundle::PluginRef::parse(spec) else {
            return seam_runtime::resolve(spec).map_err(|e| {
                // A bare name may be a bundle's plugin: say which references would do.
                let mut paths = self.paths.clone();
                paths.extend(bundle::env_paths());
                let refs = bundle::Resolver {
                    paths,
                    ..bundle::Resolver::default()
                }
                .references_to(spec);
                if refs.is_empty() {
                    anyhow::Error::from(e)
                } else {
                    anyhow::anyhow!(
                        "{e}; the bundle paths hold {}: name a bundle's plugin as BUNDLE/PLUGIN",
                        refs.iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            });
        };
        let r = r?;
        let mut paths = self.paths.clone();
        paths.extend(bundle::env_paths());
        let resolver = bundle::Resolver {
            paths,
            policy: self.trust.policy()?,
            lock: None,
        };
        let (_, source) = resolver.source(&r)?;
        Ok(source)
    }
}

/// Arguments of `seam lock`.
#[derive(Args, Debug)]
pub struct LockArgs {
    /// The pipeline whose bundles to pin.
    #[arg(value_name = "PIPELINE.toml")]
    pipeline: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Writes PIPELINE.lock pinning the digest of every bundle the pipeline loads.
pub fn lock(args: LockArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let runtime = args.engine.runtime_for(&args.pipeline)?;
    let pipeline = seam_pipeline::Pipeline::load_with(&args.pipeline, &runtime, false)?;
    let path = pipeline.lock_path();
    super::io::note_input(&args.pipeline, "pipeline file");
    super::io::refuse_if_input(&path, "lock file")?;
    let lock = bundle::Lock {
        bundles: pipeline.bundles.clone(),
    };
    lock.write(&path)?;
    writeln!(
        out,
        "wrote {} ({} bundles)",
        path.display(),
        lock.bundles.len()
    )?;
    for b in &lock.bundles {
        writeln!(out, "  {} {}  sha256 {}", b.name, b.version, b.sha256)?;
    }
    Ok(Exit::Passed)
}

//! `cloudid-certify` (also reached as `cloudid run` / `cloudid certify`): runs scenarios against
//! clients and writes reports.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloudid_harness::runner::{self, Config, ScenarioResult};
use cloudid_harness::{Verdict, report, scenario};

/// Run cloudid scenarios against real clients.
#[derive(Debug, Parser)]
#[command(name = "cloudid-certify", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios (files or directories) against one profile or a custom command.
    Run {
        /// Scenario files or directories.
        paths: Vec<PathBuf>,
        /// A bundled profile.
        #[arg(long, env = "CLOUDID_CLIENT")]
        client: Option<String>,
        /// A custom client command (whitespace-separated), used for every flow.
        #[arg(long, env = "CLOUDID_CLIENT_CMD")]
        client_cmd: Option<String>,
        /// How clients reach the server: `endpoints` (endpoint settings), `exec` (under `cloudid
        /// exec`, at the real addresses, no settings) or `both` (the matrix shows both).
        #[arg(long, env = "CLOUDID_MODE", value_enum, default_value = "endpoints")]
        mode: ModeArg,
        /// `FORMAT:PATH` with FORMAT one of json, junit, markdown, html (repeatable; in the
        /// environment, comma-separated).
        #[arg(long, env = "CLOUDID_REPORT", value_delimiter = ',')]
        report: Vec<String>,
        /// Run the scenarios on this world (self-contained, e.g. from `cloudid world import`)
        /// instead of the built-in default; their `world:` edits apply to it.
        #[arg(long, env = "CLOUDID_WORLD")]
        world: Option<PathBuf>,
        /// Scenario runs at a time (each owns its server); the number of cores by default. The
        /// matrix is the same as a serial run's.
        #[arg(long, env = "CLOUDID_JOBS")]
        jobs: Option<usize>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Serve a client seeded mutations of valid responses and classify what it does.
    Fuzz {
        /// A bundled profile.
        #[arg(long, env = "CLOUDID_CLIENT")]
        client: String,
        /// First seed.
        #[arg(long, env = "CLOUDID_SEED", default_value_t = 1)]
        seed: u64,
        /// Cases per flow the profile supports.
        #[arg(long, env = "CLOUDID_CASES", default_value_t = 20)]
        cases: u64,
        /// Write the JSON cases here.
        #[arg(long, env = "CLOUDID_OUT")]
        out: Option<PathBuf>,
    },
    /// Run the whole suite against one profile and write its certification report.
    Certify {
        /// A bundled profile.
        #[arg(long, env = "CLOUDID_CLIENT")]
        client: Option<String>,
        /// A custom client command.
        #[arg(long, env = "CLOUDID_CLIENT_CMD")]
        client_cmd: Option<String>,
        /// Output directory.
        #[arg(long, env = "CLOUDID_OUT", default_value = "certification")]
        out: PathBuf,
        /// How clients reach the server: `endpoints` (endpoint settings), `exec` (under `cloudid
        /// exec`, at the real addresses, no settings) or `both` (the matrix shows both).
        #[arg(long, env = "CLOUDID_MODE", value_enum, default_value = "endpoints")]
        mode: ModeArg,
        /// Scenario runs at a time; the number of cores by default.
        #[arg(long, env = "CLOUDID_JOBS")]
        jobs: Option<usize>,
    },
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// Endpoint settings.
    Endpoints,
    /// Under `cloudid exec`.
    Exec,
    /// Both, one after the other.
    Both,
}

impl ModeArg {
    fn modes(self) -> Vec<cloudid_harness::exec_mode::Mode> {
        use cloudid_harness::exec_mode::Mode;
        match self {
            Self::Endpoints => vec![Mode::Endpoints],
            Self::Exec => vec![Mode::Exec],
            Self::Both => vec![Mode::Endpoints, Mode::Exec],
        }
    }
}

async fn execute_modes(cfg: &Config, modes: ModeArg, paths: &[PathBuf], client: Option<&str>, client_cmd: Option<&str>) -> Result<Vec<ScenarioResult>, String> {
    let mut out = Vec::new();
    for mode in modes.modes() {
        let mut cfg = cfg.clone();
        cfg.mode = mode;
        out.extend(execute(&cfg, paths, client, client_cmd).await?);
    }
    Ok(out)
}

fn root() -> PathBuf {
    std::env::var("CLOUDID_ROOT").map(PathBuf::from).unwrap_or_else(|_| std::env::current_dir().unwrap_or_default())
}

async fn execute(cfg: &Config, paths: &[PathBuf], client: Option<&str>, client_cmd: Option<&str>) -> Result<Vec<ScenarioResult>, String> {
    let scenarios = scenario::load_all(paths).map_err(|e| e.to_string())?;
    if scenarios.is_empty() {
        return Err(format!("no scenarios under {paths:?}"));
    }
    runner::check_profiles(cfg, &scenarios).map_err(|e| e.to_string())?;
    match (client, client_cmd) {
        (_, Some(cmd)) => {
            let argv: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
            let mut out = Vec::new();
            for (f, s) in &scenarios {
                // A scenario written for named SDKs (their refresh windows) does not judge others.
                out.push(if s.profiles.is_empty() { runner::run_one(cfg, f, s, "custom", &argv).await } else { runner::skipped(f, s, "custom") });
            }
            Ok(out)
        }
        (p, None) => {
            let profiles: Vec<String> = match p {
                Some(p) => vec![p.to_string()],
                None => cfg.profiles.profiles.keys().cloned().collect(),
            };
            let progress = cloudid_harness::progress::Progress::new();
            runner::run_profiles(cfg, &scenarios, &profiles, cfg.jobs, &|done, total, passed, failed| progress.update(done, total, passed, failed)).await.map_err(|e| e.to_string())
        }
    }
}

fn write(format: &str, path: &str, results: &[ScenarioResult]) -> Result<(), String> {
    let text = match format {
        "json" => report::json(results),
        "junit" => report::junit(results),
        "markdown" | "md" => report::markdown(results),
        "html" => cloudid_harness::html::html(results),
        other => {
            return Err(format!("unknown report format `{other}` (json, junit, markdown, html)"));
        }
    };
    std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = root();
    let mut cfg = match Config::bundled(&root) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cloudid: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cloudid: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (results, reports) = match cli.command {
        Command::Schema => {
            print!("{}", scenario::json_schema());
            return ExitCode::SUCCESS;
        }
        Command::Fuzz { client, seed, cases, out } => {
            return match rt.block_on(cloudid_harness::fuzz::run(&cfg, &client, seed, cases)) {
                Ok(results) => {
                    print!("{}", cloudid_harness::fuzz::report(&client, &results));
                    if let Some(path) = out {
                        let _ = std::fs::write(path, serde_json::to_string_pretty(&results).unwrap_or_default());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cloudid fuzz: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Run { paths, client, client_cmd, mode, report, world, jobs } => {
            cfg.jobs = jobs.unwrap_or(cfg.jobs);
            let paths = if paths.is_empty() { vec![root.join("scenarios")] } else { paths };
            if let Some(w) = world {
                let text = match std::fs::read_to_string(&w) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("cloudid run: --world {}: {e}", w.display());
                        return ExitCode::from(2);
                    }
                };
                if let Err(e) = cloudid_mock::world::parse(&w.display().to_string(), &text) {
                    eprintln!("cloudid run: --world: {e}");
                    return ExitCode::from(2);
                }
                cfg.base_world = Some(text.into());
            }
            (rt.block_on(execute_modes(&cfg, mode, &paths, client.as_deref(), client_cmd.as_deref())), report)
        }
        Command::Certify { client, client_cmd, out, mode, jobs } => {
            cfg.jobs = jobs.unwrap_or(cfg.jobs);
            if client.is_none() && client_cmd.is_none() {
                eprintln!("cloudid certify: give --client NAME or --client-cmd CMD");
                return ExitCode::from(2);
            }
            let _ = std::fs::create_dir_all(&out);
            let reports = vec![
                format!("markdown:{}", out.join("certification.md").display()),
                format!("json:{}", out.join("certification.json").display()),
                format!("junit:{}", out.join("certification.xml").display()),
            ];
            (rt.block_on(execute_modes(&cfg, mode, &[root.join("scenarios")], client.as_deref(), client_cmd.as_deref())), reports)
        }
    };
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cloudid: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report::terminal(&results));
    for r in &reports {
        let Some((format, path)) = r.split_once(':') else {
            eprintln!("cloudid: --report wants FORMAT:PATH, got `{r}`");
            return ExitCode::from(2);
        };
        if let Err(e) = write(format, path, &results) {
            eprintln!("cloudid: {e}");
            return ExitCode::from(2);
        }
    }
    if results.iter().any(|r| r.verdict == Verdict::Failed) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

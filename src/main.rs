//! `loopstart`: the gateway's one binary. See `loopstart --help`.

fn main() -> std::process::ExitCode {
    loopstart::cli::main()
}

//! The hot command lines (create, start, run, state, kill, delete, exec) read without clap.
//!
//! clap builds the program's arguments and the invoked command's (each Arg cloned and grown
//! into place), then matches: ~0.1 ms and ~40 pages of heap in every runtime process, for the
//! commands containerd, podman and the bench call thousands of times. Only plain shapes are
//! taken here: long flags (`--root X`, `--root=X`), lone short flags (`-b X`, `-d`), each at
//! most once, values not starting with '-'. Anything else (help, version, an unknown or repeated
//! flag, `--`, bundled or glued short flags, a missing or extra argument, non-UTF-8) returns
//! None and clap reads the whole line, so its errors and help stay the only ones. The tests
//! check that every shape taken here parses to exactly what clap makes of it.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{Cli, Cmd, CreateArgs, ExecArgs, Global};

/// The parsed line, or None to let clap parse it. `args` excludes the program name.
pub fn parse(args: &[OsString]) -> Option<Cli> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
    let mut line = Line { args: &args, at: 0, g: Globals::default() };
    let name = loop {
        let a = line.next()?;
        match token(a)? {
            Token::Flag(f, glued) => line.global(f, glued, true)?,
            Token::Word(w) => break w,
        }
    };
    let cmd = match name {
        "create" => line.create()?,
        "run" => line.run()?,
        "start" => Cmd::Start { id: line.one_id()? },
        "state" => Cmd::State { id: line.one_id()? },
        "kill" => line.kill()?,
        "delete" => line.delete()?,
        "exec" => Cmd::Exec(line.exec()?),
        _ => return None,
    };
    Some(Cli { global: line.g.finish(), version: false, cmd: Some(cmd) })
}

enum Token<'a> {
    /// `--name` or `-n`, with the value glued by `=` to a long one.
    Flag(&'a str, Option<&'a str>),
    Word(&'a str),
}

/// None for the shapes left to clap: `-`, `--`, `-abc`, `-bX`, `--=x`.
fn token(a: &str) -> Option<Token<'_>> {
    if let Some(long) = a.strip_prefix("--") {
        let (name, glued) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (long, None),
        };
        return (!name.is_empty()).then(|| Token::Flag(&a[..name.len() + 2], glued));
    }
    if a.starts_with('-') {
        return (a.len() == 2).then_some(Token::Flag(a, None));
    }
    Some(Token::Word(a))
}

#[derive(Default)]
struct Globals {
    root: Option<PathBuf>,
    log: Option<String>,
    log_format: Option<String>,
    debug: bool,
    systemd_cgroup: bool,
    rootless: Option<String>,
    criu: Option<String>,
}

impl Globals {
    fn finish(self) -> Global {
        Global {
            root_given: self.root.is_some(),
            root: self.root.unwrap_or_else(super::default_root),
            log: self.log,
            log_format: self.log_format.unwrap_or_else(|| "text".into()),
            debug: self.debug,
            systemd_cgroup: self.systemd_cgroup,
            rootless: self.rootless,
            criu: self.criu,
        }
    }
}

struct Line<'a> {
    args: &'a [&'a str],
    at: usize,
    g: Globals,
}

/// Stores a flag's value; a second one goes to clap.
fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

fn switch(slot: &mut bool, glued: Option<&str>) -> Option<()> {
    if *slot || glued.is_some() {
        return None;
    }
    *slot = true;
    Some(())
}

impl<'a> Line<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let a = self.args.get(self.at)?;
        self.at += 1;
        Some(a)
    }

    /// A flag's value, glued or the next argument; an empty or '-'-led one goes to clap.
    fn value(&mut self, glued: Option<&'a str>) -> Option<&'a str> {
        let v = match glued {
            Some(v) => v,
            None => self.next()?,
        };
        (!v.is_empty() && !v.starts_with('-')).then_some(v)
    }

    /// A global flag; `--rootless` is one only ahead of the command name.
    fn global(&mut self, flag: &str, glued: Option<&'a str>, before_command: bool) -> Option<()> {
        match flag {
            "--root" => {
                let v = self.value(glued)?;
                once(&mut self.g.root, PathBuf::from(v))
            }
            "--log" => {
                let v = self.value(glued)?;
                once(&mut self.g.log, v.to_string())
            }
            "--log-format" => {
                let v = self.value(glued).filter(|v| matches!(*v, "text" | "json"))?;
                once(&mut self.g.log_format, v.to_string())
            }
            "--criu" => {
                let v = self.value(glued)?;
                once(&mut self.g.criu, v.to_string())
            }
            "--rootless" if before_command => {
                let v = self.value(glued)?;
                once(&mut self.g.rootless, v.to_string())
            }
            "--debug" => switch(&mut self.g.debug, glued),
            "--systemd-cgroup" => switch(&mut self.g.systemd_cgroup, glued),
            _ => None,
        }
    }

    /// The rest of the line: each flag goes to `own`, then to the global flags; words are the
    /// positionals, at most `max`. With `trailing`, the word after the first one starts a
    /// command line kept verbatim (exec's), and flags must come before the first word.
    fn rest(&mut self, max: usize, trailing: bool, mut own: impl FnMut(&mut Self, &'a str, Option<&'a str>) -> Option<bool>) -> Option<(Vec<&'a str>, Vec<&'a str>)> {
        let mut words = Vec::new();
        while let Some(a) = self.next() {
            match token(a)? {
                Token::Flag(_, _) if trailing && !words.is_empty() => return None,
                Token::Flag(f, glued) => {
                    if !own(self, f, glued)? {
                        self.global(f, glued, false)?;
                    }
                }
                Token::Word(w) if trailing && !words.is_empty() => {
                    let mut command = vec![w];
                    command.extend(self.args[self.at..].iter().copied());
                    self.at = self.args.len();
                    return Some((words, command));
                }
                Token::Word(w) => {
                    if words.len() == max {
                        return None;
                    }
                    words.push(w);
                }
            }
        }
        Some((words, Vec::new()))
    }

    /// A command whose only argument is the container ID.
    fn one_id(&mut self) -> Option<String> {
        let (words, _) = self.rest(1, false, |_, _, _| Some(false))?;
        words.first().map(|w| w.to_string())
    }

    /// create's and run's shared flags; Some(false) for a flag that is not one of them.
    fn create_flag(&mut self, o: &mut CreateArgs, bundle: &mut Option<PathBuf>, flag: &str, glued: Option<&'a str>) -> Option<bool> {
        let path = |l: &mut Self| l.value(glued).map(PathBuf::from);
        match flag {
            "-b" | "--bundle" => once(bundle, path(self)?)?,
            "--console-socket" => once(&mut o.console_socket, path(self)?)?,
            "--pidfd-socket" => once(&mut o.pidfd_socket, path(self)?)?,
            "--pid-file" => once(&mut o.pid_file, path(self)?)?,
            "--no-pivot" => switch(&mut o.no_pivot, glued)?,
            "--no-new-keyring" => switch(&mut o.no_new_keyring, glued)?,
            "--preserve-fds" if o.preserve_fds == 0 => o.preserve_fds = self.value(glued)?.parse().ok().filter(|n| *n != 0)?,
            _ => return Some(false),
        }
        Some(true)
    }

    fn create(&mut self) -> Option<Cmd> {
        let (mut opts, mut bundle) = (CreateArgs::default(), None);
        let (words, _) = self.rest(1, false, |l, f, v| l.create_flag(&mut opts, &mut bundle, f, v))?;
        opts.bundle = bundle.unwrap_or_else(|| PathBuf::from("."));
        Some(Cmd::Create { opts, id: words.first()?.to_string() })
    }

    fn run(&mut self) -> Option<Cmd> {
        let (mut opts, mut bundle) = (CreateArgs::default(), None);
        let (mut detach, mut keep, mut no_subreaper) = (false, false, false);
        let (words, _) = self.rest(1, false, |l, f, v| match f {
            "-d" | "--detach" => switch(&mut detach, v).map(|_| true),
            "--keep" => switch(&mut keep, v).map(|_| true),
            "--no-subreaper" => switch(&mut no_subreaper, v).map(|_| true),
            _ => l.create_flag(&mut opts, &mut bundle, f, v),
        })?;
        opts.bundle = bundle.unwrap_or_else(|| PathBuf::from("."));
        Some(Cmd::Run { opts, detach, keep, no_subreaper, id: words.first()?.to_string() })
    }

    fn kill(&mut self) -> Option<Cmd> {
        let mut all = false;
        let (words, _) = self.rest(2, false, |_, f, v| match f {
            "-a" | "--all" => switch(&mut all, v).map(|_| true),
            _ => Some(false),
        })?;
        let id = words.first()?.to_string();
        let signal = words.get(1).unwrap_or(&"SIGTERM").to_string();
        Some(Cmd::Kill { all, id, signal })
    }

    fn delete(&mut self) -> Option<Cmd> {
        let mut force = false;
        let (words, _) = self.rest(usize::MAX, false, |_, f, v| match f {
            "-f" | "--force" => switch(&mut force, v).map(|_| true),
            _ => Some(false),
        })?;
        if words.is_empty() {
            return None;
        }
        Some(Cmd::Delete { force, ids: words.iter().map(|w| w.to_string()).collect() })
    }

    fn exec(&mut self) -> Option<ExecArgs> {
        let mut o = ExecArgs::default();
        let (words, command) = self.rest(1, true, |l, f, v| {
            let text = |l: &mut Self| l.value(v).map(str::to_string);
            let path = |l: &mut Self| l.value(v).map(PathBuf::from);
            match f {
                "--console-socket" => once(&mut o.console_socket, path(l)?)?,
                "--pidfd-socket" => once(&mut o.pidfd_socket, path(l)?)?,
                "--cwd" => once(&mut o.cwd, path(l)?)?,
                "-e" | "--env" => o.env.push(text(l)?),
                "-t" | "--tty" => switch(&mut o.tty, v)?,
                "-u" | "--user" => once(&mut o.user, text(l)?)?,
                "-g" | "--additional-gids" => o.additional_gids.push(text(l)?),
                "-p" | "--process" => once(&mut o.process, path(l)?)?,
                "-d" | "--detach" => switch(&mut o.detach, v)?,
                "--pid-file" => once(&mut o.pid_file, path(l)?)?,
                "--process-label" => once(&mut o.process_label, text(l)?)?,
                "--apparmor" => once(&mut o.apparmor, text(l)?)?,
                "--no-new-privs" => switch(&mut o.no_new_privs, v)?,
                "-c" | "--cap" => o.cap.push(text(l)?),
                "--preserve-fds" if o.preserve_fds == 0 => o.preserve_fds = l.value(v)?.parse().ok().filter(|n| *n != 0)?,
                "--cgroup" => o.cgroup.push(text(l)?),
                "--ignore-paused" => switch(&mut o.ignore_paused, v)?,
                _ => return Some(false),
            }
            Some(true)
        })?;
        o.id = words.first()?.to_string();
        o.command = command.iter().map(|w| w.to_string()).collect();
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(line: &[&str]) -> Vec<OsString> {
        line.iter().map(OsString::from).collect()
    }

    /// What clap makes of `line` (Debug, as the types have no PartialEq), or its error kind.
    fn by_clap(line: &[&str]) -> String {
        let mut args = os(&["bulkhead"]);
        args.extend(os(line));
        match super::super::parse_with_clap(args) {
            Ok(cli) => format!("{cli:?}"),
            Err(e) => format!("clap error {:?}", e.kind()),
        }
    }

    /// Lines the fast path takes: each must parse exactly as clap parses it.
    #[test]
    fn taken_lines_parse_as_clap_parses_them() {
        let lines: &[&[&str]] = &[
            &["run", "c1"],
            &["--root", "/run/x", "run", "--bundle", "/b", "c1"],
            &["--root=/run/x", "--log", "/l", "--log-format", "json", "run", "-b", "/b", "-d", "--pid-file", "/p", "c1"],
            &["--debug", "--systemd-cgroup", "run", "--keep", "--no-subreaper", "--bundle=/b", "c1"],
            &["run", "c1", "--bundle", "/b", "--root", "/r"],
            &["--rootless", "false", "--criu", "x", "run", "--console-socket", "/s", "--pidfd-socket", "/q", "--no-pivot", "--no-new-keyring", "--preserve-fds", "2", "c1"],
            &["create", "--bundle", "/b", "--pid-file", "/p", "c1"],
            &["create", "c1", "--log-format=text"],
            &["--root", "/r", "start", "c1"],
            &["start", "c1", "--debug"],
            &["state", "c1"],
            &["kill", "c1"],
            &["kill", "c1", "KILL"],
            &["kill", "--all", "c1", "9"],
            &["kill", "-a", "c1", "SIGKILL"],
            &["delete", "c1"],
            &["delete", "-f", "c1", "c2", "c3"],
            &["--root", "/r", "delete", "--force", "c1"],
            &["exec", "c1", "true"],
            &["exec", "-t", "-d", "--pid-file", "/p", "c1", "sh", "-c", "echo -n x", "--", "-e"],
            &["exec", "-e", "A=1", "--env", "B=2", "-u", "1:1", "-g", "5", "-g", "6", "--cwd", "/w", "c1", "id"],
            &["exec", "--process", "/p.json", "--detach", "--console-socket", "/s", "c1"],
            &["exec", "-c", "CAP_KILL", "--cap", "CAP_CHOWN", "--no-new-privs", "--cgroup", "a:b", "--ignore-paused", "--apparmor", "x", "--process-label", "y", "--preserve-fds", "1", "c1", "ls", "-l"],
        ];
        for line in lines {
            let fast = parse(&os(line)).unwrap_or_else(|| panic!("{line:?} was left to clap"));
            assert_eq!(format!("{fast:?}"), by_clap(line), "{line:?}");
        }
    }

    /// Lines left to clap: help, errors, and the shapes the fast path does not read.
    #[test]
    fn other_lines_are_left_to_clap() {
        let lines: &[&[&str]] = &[
            &[],
            &["--version"],
            &["-v"],
            &["run", "--help"],
            &["-h"],
            &["run"],
            &["run", "c1", "c2"],
            &["run", "-db", "/b", "c1"],
            &["run", "-b/b", "c1"],
            &["run", "--bundle", "/a", "--bundle", "/b", "c1"],
            &["run", "-d", "-d", "c1"],
            &["run", "--detach=true", "c1"],
            &["run", "--bundle", "", "c1"],
            &["run", "--preserve-fds", "x", "c1"],
            &["run", "--unknown", "c1"],
            &["run", "--rootless", "true", "c1"],
            &["--log-format", "xml", "run", "c1"],
            &["--root", "run", "c1"],
            &["run", "--", "c1"],
            &["kill", "c1", "-9"],
            &["kill", "c1", "KILL", "extra"],
            &["delete"],
            &["exec", "c1", "-t", "sh"],
            &["exec", "c1", "--", "sh"],
            &["exec", "--pidfd-socket", "/q", "c1", "-x"],
            &["list"],
            &["spec", "--rootless"],
            &["pause", "c1"],
        ];
        for line in lines {
            assert!(parse(&os(line)).is_none(), "{line:?} was taken");
        }
    }

    /// --root given or not (runc's `list` tells the two apart), and the default state root.
    #[test]
    fn root_given_as_clap_sets_it() {
        let given = parse(&os(&["--root", "/r", "state", "c1"])).unwrap();
        assert!(given.global.root_given);
        let default = parse(&os(&["state", "c1"])).unwrap();
        assert!(!default.global.root_given);
        assert_eq!(default.global.root, super::super::default_root());
    }
}

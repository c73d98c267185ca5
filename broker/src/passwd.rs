//! `mqlite passwd [-D] [-I N] FILE USER`: adds, updates or deletes one user of a Mosquitto 2
//! password file (`$7$` PBKDF2-SHA512 lines, readable by `mosquitto` too). The password is
//! prompted twice on a terminal, or read as one line from standard input otherwise; it is
//! never taken from the command line, where other users of the machine could see it.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, bail};
use mqlite_net::auth::{DEFAULT_ITERATIONS, Updated, check_username, hash_password, update_file};

pub(crate) const HELP: &str = "\
mqlite passwd: add, update or delete a user of a password file (Mosquitto 2 format)

Usage: mqlite passwd [OPTIONS] FILE USER

The password is asked twice on a terminal; otherwise the first line of standard input is
the password (for scripts: `printf '%s\\n' \"$PW\" | mqlite passwd FILE USER`). FILE is
created (mode 0600) if it does not exist; other lines are kept; the file is replaced
atomically.

Options:
  -D, --delete          delete USER instead of setting a password
  -I, --iterations N    PBKDF2 iterations (default 101, as mosquitto_passwd); each CONNECT
                        with a password costs one hash on a worker thread
  -h, --help            print this help";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PasswdArgs {
    file: PathBuf,
    user: String,
    delete: bool,
    iterations: u32,
}

/// Parses the arguments after `passwd`; `Ok(None)` when only help was asked for.
pub(crate) fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> anyhow::Result<Option<PasswdArgs>> {
    let mut delete = false;
    let mut iterations = DEFAULT_ITERATIONS;
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        match flag.as_str() {
            "-D" | "--delete" => delete = true,
            "-I" | "--iterations" => {
                let value = inline
                    .or_else(|| args.next())
                    .context("--iterations needs a value")?;
                iterations = match value.parse::<u32>() {
                    Ok(n) if n >= 1 => n,
                    _ => bail!("--iterations `{value}`: expected a whole number ≥ 1"),
                };
            }
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            other if other.starts_with('-') && other.len() > 1 => {
                bail!("unknown option `{other}` (try mqlite passwd --help)")
            }
            _ => positional.push(flag),
        }
    }
    let [file, user] = <[String; 2]>::try_from(positional).map_err(|given| {
        anyhow::anyhow!(
            "expected FILE and USER, got {} argument(s); the password is never an argument \
             (try mqlite passwd --help)",
            given.len()
        )
    })?;
    check_username(&user)?;
    Ok(Some(PasswdArgs {
        file: PathBuf::from(file),
        user,
        delete,
        iterations,
    }))
}

/// Runs `mqlite passwd` with the arguments after `passwd`.
pub(crate) fn run(args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let Some(args) = parse_args(args)? else {
        return Ok(());
    };
    let file = args.file.display();
    let hash = if args.delete {
        None
    } else {
        let password = read_password()?;
        Some(hash_password(password.as_bytes(), args.iterations)?)
    };
    let updated = update_file(&args.file, &args.user, hash.as_deref())?;
    let done = match updated {
        Updated::Added => "added",
        Updated::Replaced => "updated",
        _ => "deleted",
    };
    eprintln!("mqlite passwd: {done} user `{}` in {file}", args.user);
    Ok(())
}

/// The new password: asked twice on a terminal (without echo), else the first line of stdin.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again =
            rpassword::prompt_password("Reenter password: ").context("cannot read the password")?;
        if first != again {
            bail!("the passwords do not match");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(strip_line_end(&line).to_owned())
}

/// `line` without its `\n` or `\r\n`.
fn strip_line_end(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Option<PasswdArgs>> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn file_user_and_options_are_read() {
        let args = parse(&["-I", "5000", "pw", "alice"]).unwrap().unwrap();
        assert_eq!(
            args,
            PasswdArgs {
                file: "pw".into(),
                user: "alice".into(),
                delete: false,
                iterations: 5000,
            }
        );
        let args = parse(&["pw", "--delete", "bob"]).unwrap().unwrap();
        assert!(args.delete);
        assert_eq!(args.iterations, DEFAULT_ITERATIONS);
        assert_eq!(
            parse(&["--iterations=7", "pw", "u"])
                .unwrap()
                .unwrap()
                .iterations,
            7
        );
    }

    #[test]
    fn a_password_argument_is_refused() {
        let err = parse(&["pw", "alice", "hunter2"]).unwrap_err().to_string();
        assert!(err.contains("never an argument"), "{err}");
        for bad in [
            &["pw"][..],
            &["-I", "0", "pw", "u"],
            &["-x", "pw", "u"],
            &["pw", "a:b"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn line_ends_are_stripped_once() {
        assert_eq!(strip_line_end("pw\r\n"), "pw");
        assert_eq!(strip_line_end("pw\n"), "pw");
        assert_eq!(strip_line_end("pw \n\n"), "pw \n");
        assert_eq!(strip_line_end("pw"), "pw");
    }
}

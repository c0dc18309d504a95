use thiserror::Error;

/// A line that looked like a command but is not one the line front-end
/// knows, or lacks its arguments; shown to its sender only.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    /// Not a command we know.
    #[error("unknown command /{0}; type /help for the list")]
    Unknown(String),
    /// Missing or extra arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
}

/// What one line of input asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// A chat line for the room.
    Say(&'a str),
    /// A command.
    Command(Command<'a>),
}

/// The line front-end's commands (a line starting with `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `/help`
    Help,
    /// `/nick NAME`
    Nick(&'a str),
    /// `/join ROOM`
    Join(&'a str),
    /// `/rooms`
    Rooms,
    /// `/who`
    Who,
    /// `/msg NICK TEXT`
    Msg(&'a str, &'a str),
    /// `/me TEXT`
    Me(&'a str),
    /// `/quit [REASON]`
    Quit(Option<&'a str>),
}

/// Parses one (sanitized, non-empty) line of the line front-end.
/// `//text` says `/text`.
pub fn parse(line: &str) -> Result<Input<'_>, CommandError> {
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Input::Say(line));
    };
    if rest.starts_with('/') {
        return Ok(Input::Say(rest));
    }
    let (name, args) = match rest.split_once(char::is_whitespace) {
        Some((name, args)) => (name, args.trim()),
        None => (rest, ""),
    };
    let one_word = |usage| match args {
        "" => Err(CommandError::Usage(usage)),
        a if a.contains(char::is_whitespace) => Err(CommandError::Usage(usage)),
        a => Ok(a),
    };
    let none = |cmd, usage| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(CommandError::Usage(usage))
        }
    };
    let command = match name.to_ascii_lowercase().as_str() {
        "help" => Command::Help,
        "nick" => Command::Nick(one_word("/nick NAME")?),
        "join" => Command::Join(one_word("/join ROOM")?),
        "rooms" => none(Command::Rooms, "/rooms")?,
        "who" => none(Command::Who, "/who")?,
        "msg" => match args.split_once(char::is_whitespace) {
            Some((nick, text)) if !text.trim().is_empty() => Command::Msg(nick, text.trim()),
            _ => return Err(CommandError::Usage("/msg NICK TEXT")),
        },
        "me" if !args.is_empty() => Command::Me(args),
        "me" => return Err(CommandError::Usage("/me TEXT")),
        "quit" => Command::Quit(Some(args).filter(|a| !a.is_empty())),
        _ => return Err(CommandError::Unknown(name.to_string())),
    };
    Ok(Input::Command(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_and_escaped_slash() {
        assert_eq!(parse("hello"), Ok(Input::Say("hello")));
        assert_eq!(parse("//etc/passwd"), Ok(Input::Say("/etc/passwd")));
    }

    #[test]
    fn commands_and_arguments() {
        use Command::*;
        let cmd = |l| {
            parse(l).map(|i| match i {
                Input::Command(c) => c,
                Input::Say(s) => panic!("{s:?} parsed as a chat line"),
            })
        };
        assert_eq!(cmd("/help"), Ok(Help));
        assert_eq!(cmd("/HELP"), Ok(Help));
        assert_eq!(cmd("/nick  alice "), Ok(Nick("alice")));
        assert_eq!(cmd("/join #rust"), Ok(Join("#rust")));
        assert_eq!(cmd("/rooms"), Ok(Rooms));
        assert_eq!(cmd("/who"), Ok(Who));
        assert_eq!(cmd("/msg bob hi there"), Ok(Msg("bob", "hi there")));
        assert_eq!(cmd("/me waves"), Ok(Me("waves")));
        assert_eq!(cmd("/quit"), Ok(Quit(None)));
        assert_eq!(cmd("/quit gone fishing"), Ok(Quit(Some("gone fishing"))));
    }

    #[test]
    fn bad_commands_say_why() {
        assert_eq!(
            parse("/frobnicate"),
            Err(CommandError::Unknown("frobnicate".into()))
        );
        assert_eq!(parse("/nick"), Err(CommandError::Usage("/nick NAME")));
        assert_eq!(
            parse("/nick two words"),
            Err(CommandError::Usage("/nick NAME"))
        );
        assert_eq!(
            parse("/msg bob"),
            Err(CommandError::Usage("/msg NICK TEXT"))
        );
        assert_eq!(parse("/me"), Err(CommandError::Usage("/me TEXT")));
        assert_eq!(parse("/who extra"), Err(CommandError::Usage("/who")));
        assert_eq!(parse("/"), Err(CommandError::Unknown(String::new())));
    }
}

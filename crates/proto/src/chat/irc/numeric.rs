//! Numeric replies, named as in the Modern IRC documentation
//! (modern.ircdocs.horse), and the builder of server-sourced lines.

use crate::chat::irc::irc_render::{floor_char_boundary, MAX_LINE};

pub const RPL_WELCOME: &str = "001";
pub const RPL_YOURHOST: &str = "002";
pub const RPL_CREATED: &str = "003";
pub const RPL_MYINFO: &str = "004";
pub const RPL_ISUPPORT: &str = "005";
pub const RPL_UMODEIS: &str = "221";
pub const RPL_LUSERCLIENT: &str = "251";
pub const RPL_LUSERUNKNOWN: &str = "253";
pub const RPL_LUSERCHANNELS: &str = "254";
pub const RPL_LUSERME: &str = "255";
pub const RPL_LOCALUSERS: &str = "265";
pub const RPL_GLOBALUSERS: &str = "266";
pub const RPL_AWAY: &str = "301";
pub const RPL_USERHOST: &str = "302";
pub const RPL_ISON: &str = "303";
pub const RPL_UNAWAY: &str = "305";
pub const RPL_NOWAWAY: &str = "306";
pub const RPL_WHOISUSER: &str = "311";
pub const RPL_WHOISSERVER: &str = "312";
pub const RPL_ENDOFWHO: &str = "315";
pub const RPL_WHOISIDLE: &str = "317";
pub const RPL_ENDOFWHOIS: &str = "318";
pub const RPL_WHOISCHANNELS: &str = "319";
pub const RPL_LISTSTART: &str = "321";
pub const RPL_LIST: &str = "322";
pub const RPL_LISTEND: &str = "323";
pub const RPL_CHANNELMODEIS: &str = "324";
pub const RPL_CREATIONTIME: &str = "329";
pub const RPL_NOTOPIC: &str = "331";
pub const RPL_TOPIC: &str = "332";
pub const RPL_TOPICWHOTIME: &str = "333";
pub const RPL_WHOREPLY: &str = "352";
pub const RPL_NAMREPLY: &str = "353";
pub const RPL_ENDOFNAMES: &str = "366";
pub const RPL_ENDOFBANLIST: &str = "368";
pub const RPL_MOTD: &str = "372";
pub const RPL_MOTDSTART: &str = "375";
pub const RPL_ENDOFMOTD: &str = "376";
pub const ERR_NOSUCHNICK: &str = "401";
pub const ERR_NOSUCHCHANNEL: &str = "403";
pub const ERR_CANNOTSENDTOCHAN: &str = "404";
pub const ERR_TOOMANYCHANNELS: &str = "405";
pub const ERR_TOOMANYTARGETS: &str = "407";
pub const ERR_NOORIGIN: &str = "409";
pub const ERR_INVALIDCAPCMD: &str = "410";
pub const ERR_NORECIPIENT: &str = "411";
pub const ERR_NOTEXTTOSEND: &str = "412";
pub const ERR_INPUTTOOLONG: &str = "417";
/// Not in the Modern IRC documentation: hybrid, ratbox and their heirs
/// refuse a message with it when its target may not be sent to now.
pub const ERR_TARGETTOOFAST: &str = "439";
/// A resource is unavailable for now: here, the client itself while its
/// server rejoins its cluster.
pub const ERR_UNAVAILRESOURCE: &str = "437";

/// The text of [`ERR_TARGETTOOFAST`] for a private message not delivered
/// because its recipient is not keeping up.
pub const TARGET_BUSY: &str =
    "Target is not keeping up with its messages; yours was not delivered, try again later";
pub const ERR_UNKNOWNCOMMAND: &str = "421";
pub const ERR_NOMOTD: &str = "422";
pub const ERR_NONICKNAMEGIVEN: &str = "431";
pub const ERR_ERRONEUSNICKNAME: &str = "432";
pub const ERR_NICKNAMEINUSE: &str = "433";
pub const ERR_USERNOTINCHANNEL: &str = "441";
pub const ERR_NOTONCHANNEL: &str = "442";
pub const ERR_NOTREGISTERED: &str = "451";
pub const ERR_NEEDMOREPARAMS: &str = "461";
pub const ERR_ALREADYREGISTERED: &str = "462";
pub const ERR_PASSWDMISMATCH: &str = "464";
pub const RPL_YOUREOPER: &str = "381";
pub const RPL_REHASHING: &str = "382";
pub const ERR_NOPRIVILEGES: &str = "481";
pub const ERR_NOOPERHOST: &str = "491";
pub const ERR_UNKNOWNMODE: &str = "472";
pub const ERR_CHANOPRIVSNEEDED: &str = "482";
pub const ERR_UMODEUNKNOWNFLAG: &str = "501";
pub const ERR_USERSDONTMATCH: &str = "502";

/// `:server COMMAND params... [:trailing]` and CR LF, cut to the line limit
/// at a character boundary (parameters echo what clients sent, which may
/// be long).
pub fn server_line(server: &str, command: &str, params: &[&str], trailing: Option<&str>) -> String {
    source_line(Some(server), command, params, trailing)
}

/// A line as [`server_line`] makes it, with any source or none (`ERROR`,
/// `PING`).
pub fn source_line(
    source: Option<&str>,
    command: &str,
    params: &[&str],
    trailing: Option<&str>,
) -> String {
    let mut line = String::with_capacity(64);
    if let Some(source) = source {
        line.push(':');
        line.push_str(source);
        line.push(' ');
    }
    line.push_str(command);
    for param in params {
        // A middle parameter can be neither empty nor hold a space (what
        // clients sent may be either): `*` or its first word stands in.
        let word = param.split(' ').next().filter(|w| !w.is_empty());
        line.push(' ');
        line.push_str(word.unwrap_or("*"));
    }
    if let Some(text) = trailing {
        line.push_str(" :");
        line.push_str(text);
    }
    line.truncate(floor_char_boundary(&line, MAX_LINE - 2));
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_to_fit() {
        assert_eq!(
            server_line(
                "s",
                ERR_NOSUCHNICK,
                &["me", "bob"],
                Some("No such nick/channel")
            ),
            ":s 401 me bob :No such nick/channel\r\n"
        );
        let long = "é".repeat(600);
        let line = server_line(
            "s",
            ERR_UNKNOWNCOMMAND,
            &["me", &long],
            Some("Unknown command"),
        );
        assert!(line.len() <= MAX_LINE && line.ends_with("\r\n"));
    }
}

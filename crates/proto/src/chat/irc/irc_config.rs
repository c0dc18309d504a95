//! The IRC front-end's settings, and what it tells clients it supports.

use std::time::Duration;

use crate::chat::irc::irc_conn::TEXT_LEN;

/// The IRC front-end's settings.
#[derive(Clone, Debug)]
pub struct IrcConfig {
    /// The server's name in numerics and `PONG`.
    pub server_name: String,
    /// `NETWORK=` in `ISUPPORT`.
    pub network: String,
    /// Required with `PASS` before registering, if set.
    pub password: Option<String>,
    /// What `OPER` takes to make a client an operator (who may `REHASH`);
    /// unset: nobody can be one.
    pub oper_password: Option<String>,
    /// Message of the day, one entry per line; empty: `422`.
    pub motd: Vec<String>,
    /// A client silent this long is sent a `PING`.
    pub ping_interval: Duration,
    /// A `PING` unanswered this long ends the session ("Ping timeout").
    /// An unregistered client has `ping_interval` to register.
    pub ping_timeout: Duration,
}

impl Default for IrcConfig {
    fn default() -> Self {
        IrcConfig {
            server_name: "switchboard.local".to_string(),
            network: "switchboard".to_string(),
            password: None,
            oper_password: None,
            motd: [
                "Welcome to switchboard.",
                "Its rooms are shared with nc and telnet users on the line port",
                "(8008 by default): #lobby is where everyone starts.",
            ]
            .map(str::to_string)
            .to_vec(),
            ping_interval: Duration::from_secs(90),
            ping_timeout: Duration::from_secs(60),
        }
    }
}

/// The `ISUPPORT` tokens: only what switchboard does.
pub(super) fn isupport(network: &str) -> Vec<String> {
    let len = crate::chat::MAX_NAME;
    [
        format!("AWAYLEN={TEXT_LEN}"),
        "CASEMAPPING=ascii".to_string(),
        format!("CHANLIMIT=#:{}", crate::chat::ChatCore::MAX_ROOMS),
        "CHANMODES=,,,nt".to_string(),
        format!("CHANNELLEN={}", len + 1),
        "CHANTYPES=#".to_string(),
        format!("KICKLEN={TEXT_LEN}"),
        format!("MODES={}", crate::chat::irc::MAX_MODES),
        format!("NETWORK={network}"),
        format!("NICKLEN={len}"),
        "PREFIX=(o)@".to_string(),
        format!(
            "TARGMAX=JOIN:,KICK:{max},NAMES:,NOTICE:{max},PART:,PRIVMSG:{max},TAGMSG:{max},WHOIS:1",
            max = crate::chat::irc::MAX_TARGETS
        ),
        format!("TOPICLEN={TEXT_LEN}"),
    ]
    .to_vec()
}

//! A chat client for the tests, line or IRC, reading with the tests'
//! deadline, and the check that a room's members all see it in one order.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{connect, DEADLINE};

/// One client, line or IRC, reading lines with the tests' deadline.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    pub irc: bool,
    pub name: String,
}

impl Client {
    /// A line client, welcomed and renamed `name`.
    pub fn line(addr: SocketAddr, name: &str) -> Client {
        let mut c = Client::over(connect(addr), false, name);
        c.expect("welcome to switchboard");
        c.send(&format!("/nick {name}"));
        let answer = c.expect_any(&[&format!("you are now known as {name}"), "is taken"]);
        assert!(!answer.contains("is taken"), "{name} refused: {answer}");
        c
    }

    /// An IRC client, registered as `name` and in #lobby.
    pub fn irc(addr: SocketAddr, name: &str) -> Client {
        let mut c = Client::over(connect(addr), true, name);
        c.send(&format!(
            "NICK {name}\r\nUSER {name} 0 * :{name}\r\nJOIN #lobby"
        ));
        let answer = c.expect_any(&[" 366 ", " 433 "]);
        assert!(!answer.contains(" 433 "), "{name} refused: {answer}");
        c
    }

    pub fn over(stream: TcpStream, irc: bool, name: &str) -> Client {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            irc,
            name: name.to_string(),
        }
    }

    pub fn send(&mut self, text: &str) {
        self.writer
            .write_all(format!("{text}\r\n").as_bytes())
            .unwrap();
    }

    /// A line to #lobby, in the client's protocol.
    pub fn say(&mut self, text: &str) {
        self.say_all(&[text.to_string()]);
    }

    /// Lines to #lobby, in one write.
    pub fn say_all(&mut self, lines: &[String]) {
        let wire: String = (lines.iter())
            .map(|text| match self.irc {
                true => format!("PRIVMSG #lobby :{text}\r\n"),
                false => format!("{text}\r\n"),
            })
            .collect();
        self.writer.write_all(wire.as_bytes()).unwrap();
    }

    /// The next line (IRC PINGs answered), or a panic at the deadline.
    pub fn next(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line);
            assert!(
                n.as_ref().is_ok_and(|&n| n > 0),
                "{}: no line in time ({n:?})",
                self.name
            );
            if self.irc && line.starts_with("PING ") {
                self.send(&line.replacen("PING", "PONG", 1));
                continue;
            }
            return line.trim_end().to_string();
        }
    }

    /// The next line if one comes within `wait`, else `None`.
    pub fn next_within(&mut self, wait: Duration) -> Option<String> {
        self.writer.set_read_timeout(Some(wait)).unwrap();
        let mut line = String::new();
        let got = self.reader.read_line(&mut line);
        self.writer.set_read_timeout(Some(DEADLINE)).unwrap();
        match got {
            Ok(n) if n > 0 => Some(line.trim_end().to_string()),
            _ => None,
        }
    }

    /// Reads up to the first line containing `needle`, and returns it.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_any(&[needle])
    }

    /// Reads up to the first line containing any of `needles`, and
    /// returns it.
    pub fn expect_any(&mut self, needles: &[&str]) -> String {
        loop {
            let line = self.next();
            if needles.iter().any(|n| line.contains(n)) {
                return line;
            }
        }
    }

    /// Every line up to and including the first that contains `needle`.
    pub fn lines_until(&mut self, needle: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.next();
            let done = line.contains(needle);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Every line up to the one where the last of `needles` is first
    /// found (each in a line of its own or together), in any order.
    pub fn lines_until_all(&mut self, needles: &[&str]) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        while !needles
            .iter()
            .all(|n| lines.iter().any(|line| line.contains(n)))
        {
            lines.push(self.next());
        }
        lines
    }

    /// Reads until each of `nicks` has been named in a line (their joins,
    /// or a line client's renaming from its guest nick).
    pub fn wait_for_nicks(&mut self, nicks: &[String]) {
        let mut missing: HashSet<&str> = nicks.iter().map(String::as_str).collect();
        while !missing.is_empty() {
            let line = self.next();
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
                missing.remove(word);
            }
        }
    }
}

/// The room lines ("m SENDER N") a client received, in order, whichever
/// its protocol.
pub fn room_line(line: &str) -> Option<(String, u32)> {
    let text = line.rsplit_once("m ")?.1;
    let (sender, n) = text.split_once(' ')?;
    Some((sender.to_string(), n.parse().ok()?))
}

/// Every client sends `lines` numbered room lines ("m NAME N") in one
/// write, all at once; then each must get every other client's lines
/// exactly once, each sender's in order, and any two clients must agree on
/// the order of the lines both got: one order for the room.
pub fn assert_one_room_order(clients: &mut [Client], lines: u32) {
    for c in clients.iter_mut() {
        let wire: Vec<String> = (0..lines).map(|n| format!("m {} {n}", c.name)).collect();
        c.say_all(&wire);
    }
    let expected = (clients.len() - 1) * lines as usize;
    let orders: Vec<Vec<(String, u32)>> = clients
        .iter_mut()
        .map(|c| {
            let mut seen = Vec::new();
            while seen.len() < expected {
                if let Some(line) = room_line(&c.next()) {
                    seen.push(line);
                }
            }
            seen
        })
        .collect();
    for (c, seen) in clients.iter().zip(&orders) {
        let mut next: HashMap<&str, u32> = HashMap::new();
        for (sender, n) in seen {
            assert_ne!(sender, &c.name, "{} got its own line", c.name);
            let want = next.entry(sender).or_insert(0);
            assert_eq!(n, want, "{} got {sender}'s lines out of order", c.name);
            *want += 1;
        }
        assert_eq!(
            next.len(),
            clients.len() - 1,
            "{}: every other sender",
            c.name
        );
    }
    // One order: two members' views agree on every line both got.
    for (a, seen_a) in clients.iter().zip(&orders) {
        for (b, seen_b) in clients.iter().zip(&orders) {
            let common = |seen: &Vec<(String, u32)>| -> Vec<(String, u32)> {
                (seen.iter())
                    .filter(|(s, _)| s != &a.name && s != &b.name)
                    .cloned()
                    .collect()
            };
            assert!(
                common(seen_a) == common(seen_b),
                "{} and {} saw the room in different orders",
                a.name,
                b.name
            );
        }
    }
}

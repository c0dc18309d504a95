//! `--cluster redis://HOST:PORT`: several `switchboard chat` nodes that
//! share one Redis serve one chat. Line and IRC clients spread over the
//! nodes share #lobby in one order; actions, private messages, nick
//! changes, joins and quits cross the nodes, and a nick is the cluster's;
//! a node killed outright has its clients leave and their nicks come free;
//! with Redis away each node goes on with its own people and comes back
//! when Redis does; a stopped node stalls no one, and is told what it
//! missed; a node that cannot reach Redis does not start, and one told to
//! stop while Redis is away stops cleanly. Each test starts its own `redis-server` (on a free port of
//! 127.0.0.1) and its own nodes (on 127.0.0.1:0); every wait has a
//! deadline. Without `redis-server` the tests skip, visibly, unless
//! `SWITCHBOARD_REQUIRE_REDIS=1` (CI), which makes them fail instead.

#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use redis_server::{redis_or_skip, RedisServer};
use support::room_client::*;
use support::*;

/// What each node's clients hear when it loses Redis (line front-end
/// notices start with "*** ").
const UNREACHABLE: &str = "other servers are unreachable";
/// ... when it finds the log moved past what it had read.
const FELL_BEHIND: &str = "fell behind and missed";
/// ... when it is one with the cluster again.
const BACK: &str = "back in touch with the other servers";

/// One node of the cluster: a `switchboard chat --cluster` process and its
/// line and IRC addresses.
struct Node {
    server: Server,
    line: SocketAddr,
    irc: SocketAddr,
}

impl Node {
    /// Starts a node of `redis`'s cluster with `threads` event-loop threads
    /// and no rate limit (the tests send bursts). It joins the cluster
    /// before it listens: once it has logged its listeners, it is in.
    fn start(redis: &RedisServer, threads: u16, extra: &[&str]) -> Node {
        let url = redis.url();
        let threads = threads.to_string();
        let mut command = bin();
        command
            .args(CHAT)
            .args(["--rate-limit", "0", "--threads", &threads])
            .args(["--cluster", &url])
            .args(extra);
        let mut server = Server::start_command(&mut command);
        let line = server.listening_addr("chat");
        let irc = server.listening_addr("irc");
        Node { server, line, irc }
    }
}

/// Waits until every client has seen every client made after it arrive:
/// then all are in #lobby, as every node sees it.
fn all_in(clients: &mut [Client]) {
    for i in 0..clients.len() {
        let later: Vec<String> = clients[i + 1..].iter().map(|c| c.name.clone()).collect();
        clients[i].wait_for_nicks(&later);
    }
}

/// Reads until `client` has `count` lines "TAG N" from `sender` (a line
/// client), asserting they come in order, 0 to count - 1.
fn receive_numbered(client: &mut Client, sender: &str, tag: &str, count: u32) {
    let prefix = format!("<{sender}> {tag} ");
    let mut next = 0;
    while next < count {
        let line = client.next();
        if let Some(n) = line.strip_prefix(&prefix) {
            assert_eq!(
                n.parse::<u32>().ok(),
                Some(next),
                "{} got {sender}'s lines out of order: {line}",
                client.name
            );
            next += 1;
        }
    }
}

/// Three nodes, one of them with two threads; a line and an IRC client on
/// each. Bursts from everyone at once: each client gets every other
/// client's lines exactly once, each sender's in order, and all in one
/// order. Then actions, private messages, nick changes, a join and a quit
/// cross the nodes, and a nick held on one node is refused on another.
#[test]
fn three_nodes_share_one_room_in_one_order() {
    if !redis_or_skip("three_nodes_share_one_room_in_one_order") {
        return;
    }
    const LINES: u32 = 100;
    let redis = RedisServer::start();
    let a = Node::start(&redis, 1, &[]);
    let b = Node::start(&redis, 2, &[]);
    let c = Node::start(&redis, 1, &[]);
    let mut clients = vec![
        Client::line(a.line, "lineA"),
        Client::irc(a.irc, "ircA"),
        Client::line(b.line, "lineB"),
        Client::irc(b.irc, "ircB"),
        Client::line(c.line, "lineC"),
        Client::irc(c.irc, "ircC"),
    ];
    all_in(&mut clients);

    assert_one_room_order(&mut clients, LINES);
    // Exactly once: no room line comes again after the burst.
    let [line_a, irc_a, line_b, irc_b, line_c, irc_c] = &mut clients[..] else {
        unreachable!()
    };
    line_a.say("burst over");
    for c in [
        &mut *irc_a,
        &mut *line_b,
        &mut *irc_b,
        &mut *line_c,
        &mut *irc_c,
    ] {
        let late: Vec<String> = (c.lines_until("burst over").into_iter())
            .filter(|l| room_line(l).is_some())
            .collect();
        assert!(late.is_empty(), "{} got lines again: {late:?}", c.name);
    }

    // Actions, both ways between the protocols and across the nodes.
    line_a.send("/me waves from A");
    line_c.expect("* lineA waves from A");
    let act = irc_c.expect("\u{1}ACTION waves from A\u{1}");
    assert!(
        act.starts_with(":lineA!") && act.contains(" PRIVMSG #lobby :"),
        "{act}"
    );
    irc_b.say("\u{1}ACTION nods on B\u{1}");
    line_a.expect("* ircB nods on B");
    line_c.expect("* ircB nods on B");
    let act = irc_c.expect("\u{1}ACTION nods on B\u{1}");
    assert!(act.starts_with(":ircB!"), "{act}");

    // Private messages from A to C, to the recipient only.
    line_a.send("/msg lineC psst from lineA");
    assert_eq!(line_c.expect("psst"), "[msg] <lineA> psst from lineA");
    irc_a.send("PRIVMSG lineC :psst from ircA");
    assert_eq!(line_c.expect("psst"), "[msg] <ircA> psst from ircA");
    line_a.send("/msg ircC psst from lineA");
    let private = irc_c.expect("psst");
    assert!(
        private.starts_with(":lineA!") && private.ends_with(" PRIVMSG ircC :psst from lineA"),
        "{private}"
    );
    line_a.say("no more secrets");
    for c in [&mut *line_b, &mut *irc_b] {
        let seen = c.lines_until("no more secrets");
        assert!(
            !seen.iter().any(|l| l.contains("psst")),
            "{} got a private message to another: {seen:?}",
            c.name
        );
    }

    // Nick changes on B, seen on A and C.
    line_b.send("/nick bee");
    line_b.expect("you are now known as bee");
    line_b.name = "bee".to_string();
    line_a.expect("*** lineB is now known as bee");
    line_c.expect("*** lineB is now known as bee");
    for c in [&mut *irc_a, &mut *irc_c] {
        let nick = c.expect(" NICK bee");
        assert!(
            nick.starts_with(":lineB!") && nick.ends_with(" NICK bee"),
            "{nick}"
        );
    }
    irc_b.send("NICK wasp");
    let own = irc_b.expect(" NICK wasp");
    assert!(
        own.starts_with(":ircB!") && own.ends_with(" NICK wasp"),
        "{own}"
    );
    irc_b.name = "wasp".to_string();
    line_a.expect("*** ircB is now known as wasp");
    line_c.expect("*** ircB is now known as wasp");
    for c in [&mut *irc_a, &mut *irc_c] {
        let nick = c.expect(" NICK wasp");
        assert!(
            nick.starts_with(":ircB!") && nick.ends_with(" NICK wasp"),
            "{nick}"
        );
    }

    // A newcomer on C joins and quits: A's and B's clients see each once.
    line_c.say("before dave");
    for w in [&mut *line_a, &mut *irc_a, &mut *line_b, &mut *irc_b] {
        w.expect("before dave");
    }
    let mut dave = Client::line(c.line, "dave");
    line_c.expect("is now known as dave");
    dave.send("/quit");
    line_c.expect("dave left #lobby");
    line_c.say("after dave");
    for w in [&mut *line_a, &mut *irc_a, &mut *line_b, &mut *irc_b] {
        let seen = w.lines_until("after dave");
        let count = |f: &dyn Fn(&str) -> bool| seen.iter().filter(|l| f(l)).count();
        let (joins, renames, quits) = match w.irc {
            false => (
                count(&|l| l.starts_with("*** ") && l.ends_with(" joined #lobby")),
                count(&|l| l.ends_with(" is now known as dave")),
                count(&|l| l.starts_with("*** dave left #lobby")),
            ),
            true => (
                count(&|l| l.contains(" JOIN ") && l.contains("#lobby")),
                count(&|l| l.ends_with(" NICK dave")),
                count(&|l| l.starts_with(":dave!") && l.contains(" QUIT ")),
            ),
        };
        assert_eq!(
            (joins, renames, quits),
            (1, 1, 1),
            "{}: one join, one rename, one quit: {seen:?}",
            w.name
        );
    }
    drop(dave);

    // A nick held on A is refused on B, to a line client and IRC clients,
    // and stays with its holder.
    line_b.send("/nick lineA");
    let refused = line_b.expect("is taken");
    assert!(refused.contains("lineA"), "{refused}");
    irc_b.send("NICK ircA");
    let refused = irc_b.expect(" 433 ");
    assert!(refused.contains(" ircA "), "{refused}");
    let mut newcomer = Client::over(connect(b.irc), true, "newcomer");
    newcomer.send("NICK lineA\r\nUSER x 0 * :x");
    let refused = newcomer.expect_any(&[" 433 ", " 001 "]);
    assert!(
        refused.contains(" 433 ") && refused.contains(" lineA "),
        "{refused}"
    );
    line_a.say("still lineA");
    line_b.expect("<lineA> still lineA");
    line_c.expect("<lineA> still lineA");
}

/// A node killed outright: within the heartbeat's time, the clients on
/// the other nodes see its client leave, "server unreachable", and its
/// nick is free again.
#[test]
fn a_dead_nodes_clients_leave_and_their_nicks_come_free() {
    if !redis_or_skip("a_dead_nodes_clients_leave_and_their_nicks_come_free") {
        return;
    }
    let redis = RedisServer::start();
    let a = Node::start(&redis, 1, &[]);
    let b = Node::start(&redis, 2, &[]);
    let mut c = Node::start(&redis, 1, &[]);
    let mut clients = vec![
        Client::line(a.line, "alice"),
        Client::irc(b.irc, "bob"),
        Client::line(c.line, "carol"),
    ];
    all_in(&mut clients);
    let [alice, bob, carol] = &mut clients[..] else {
        unreachable!()
    };
    carol.say("carol was here");
    alice.expect("<carol> carol was here");
    bob.expect("carol was here");

    c.server.signal(libc::SIGKILL);
    c.server.child.wait().unwrap();
    let killed = Instant::now();
    let left = alice.expect("carol left #lobby");
    assert!(left.contains("server unreachable"), "{left}");
    let quit = bob.expect(" QUIT ");
    assert!(
        // A netsplit, as IRC networks that hide their servers say it.
        quit.starts_with(":carol!") && quit.ends_with(" QUIT :*.net *.split"),
        "{quit}"
    );
    // Not at once (that would be a guess), but within a few heartbeats.
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(15), "carol left after {took:?}");

    // The nick is free, for a client of another node.
    let _carol_again = Client::line(a.line, "carol");
    bob.expect(" NICK carol");
    alice.expect("is now known as carol");
}

/// Redis goes away: each node's clients are told once, and go on among
/// themselves. Redis comes back on the same port: the nodes find it, their
/// clients are told, and lines cross the nodes again.
#[test]
fn while_redis_is_away_each_node_goes_on_alone_and_comes_back() {
    if !redis_or_skip("while_redis_is_away_each_node_goes_on_alone_and_comes_back") {
        return;
    }
    let mut redis = RedisServer::start();
    let port = redis.port();
    let a = Node::start(&redis, 1, &[]);
    let b = Node::start(&redis, 2, &[]);
    let mut clients = vec![
        Client::line(a.line, "a1"),
        Client::line(a.line, "a2"),
        Client::line(b.line, "b1"),
    ];
    all_in(&mut clients);
    let [a1, a2, b1] = &mut clients[..] else {
        unreachable!()
    };
    b1.say("before the split");
    a1.expect("<b1> before the split");
    a2.expect("<b1> before the split");

    // Each node's clients see the other's people leave, and are told once
    // why.
    redis.stop();
    let left = |nick: &str| format!("*** {nick} left #lobby (server unreachable)");
    let (a1_left, a2_left, b1_left) = (left("a1"), left("a2"), left("b1"));
    for (c, gone) in [
        (&mut *a1, vec![&b1_left]),
        (&mut *a2, vec![&b1_left]),
        (&mut *b1, vec![&a1_left, &a2_left]),
    ] {
        let mut needles: Vec<&str> = gone.iter().map(|s| s.as_str()).collect();
        needles.push(UNREACHABLE);
        let seen = c.lines_until_all(&needles);
        let told: Vec<&String> = seen.iter().filter(|l| l.contains(UNREACHABLE)).collect();
        assert!(
            told.len() == 1 && told[0].starts_with("*** ") && told[0].contains("#lobby"),
            "{}: {seen:?}",
            c.name
        );
    }
    // Told once; the node's own clients still talk.
    a1.say("a1 alone");
    let seen = a2.lines_until("<a1> a1 alone");
    assert!(
        !seen.iter().any(|l| l.contains(UNREACHABLE)),
        "a2 told twice: {seen:?}"
    );
    a2.say("a2 alone");
    let seen = a1.lines_until("<a2> a2 alone");
    assert!(
        !seen.iter().any(|l| l.contains(UNREACHABLE)),
        "a1 told twice: {seen:?}"
    );
    // Meanwhile one arrives on node b and one leaves node a: when the
    // nodes are one again, each side sees the other's people as they are
    // now join, once, whichever node founds the cluster anew.
    let mut b2 = Client::line(b.line, "b2");
    b1.wait_for_nicks(&["b2".to_string()]);
    a2.send("/quit");
    a1.expect("*** a2 left #lobby");

    redis = RedisServer::start_on(port);
    let joined = |nick: &str| format!("*** {nick} joined #lobby");
    let (a1_joined, b1_joined, b2_joined) = (joined("a1"), joined("b1"), joined("b2"));
    let mut seen: Vec<Vec<String>> = Vec::new();
    for (c, back) in [
        (&mut *a1, [&b1_joined, &b2_joined].as_slice()),
        (&mut *b1, &[&a1_joined]),
        (&mut b2, &[&a1_joined]),
    ] {
        let mut needles: Vec<&str> = back.iter().map(|s| s.as_str()).collect();
        needles.push(BACK);
        seen.push(c.lines_until_all(&needles));
    }
    // Lines said after all that come after every join there is to see
    // (each told before the notice, or in the log before these lines).
    b1.say("b1 after the split");
    seen[0].extend(a1.lines_until("<b1> b1 after the split"));
    seen[2].extend(b2.lines_until("<b1> b1 after the split"));
    a1.say("a1 after the split");
    seen[1].extend(b1.lines_until("<a1> a1 after the split"));
    for (seen, (name, back)) in seen.iter().zip([
        ("a1", [&b1_joined, &b2_joined].as_slice()),
        ("b1", &[&a1_joined]),
        ("b2", &[&a1_joined]),
    ]) {
        let told: Vec<&String> = seen.iter().filter(|l| l.contains(BACK)).collect();
        assert!(
            told.len() == 1 && told[0].starts_with("*** ") && told[0].contains("#lobby"),
            "{name}: {seen:?}"
        );
        assert!(
            !seen.iter().any(|l| l.contains(UNREACHABLE)),
            "{name} told again that the others are unreachable: {seen:?}"
        );
        for needle in back {
            let n = seen.iter().filter(|l| l == needle).count();
            assert_eq!(n, 1, "{name}: {needle} {n} times: {seen:?}");
        }
        assert!(
            !seen.iter().any(|l| l.contains("a2 joined")),
            "{name} saw a2, who left, join: {seen:?}"
        );
    }
    drop(redis);
}

/// A nick taken on one side of a split is settled before the two holders
/// meet: on the node that takes the cluster's state (whichever it is),
/// its holder is told it is renamed, and its neighbour hears of the
/// rename before it hears the other holder join.
#[test]
fn a_nick_taken_during_a_split_is_settled_before_its_holders_meet() {
    if !redis_or_skip("a_nick_taken_during_a_split_is_settled_before_its_holders_meet") {
        return;
    }
    let mut redis = RedisServer::start();
    let port = redis.port();
    let a = Node::start(&redis, 1, &[]);
    let b = Node::start(&redis, 1, &[]);
    // Each neighbour first: it is announced before the holder, and must
    // not meet the other holder before it hears of the rename.
    let mut clients = vec![
        Client::line(a.line, "al"),
        Client::line(b.line, "dan"),
        Client::line(b.line, "bob"),
    ];
    all_in(&mut clients);
    redis.stop();
    for c in &mut clients {
        c.expect(UNREACHABLE);
    }
    // On node a, bob's nick is free now: another takes it.
    clients.push(Client::line(a.line, "bob"));
    clients[0].expect("is now known as bob");
    redis = RedisServer::start_on(port);
    let seen: Vec<Vec<String>> = clients.iter_mut().map(|c| c.lines_until(BACK)).collect();
    let renamed = |lines: &[String]| {
        lines
            .iter()
            .any(|l| l.starts_with("*** you are now known as guest"))
    };
    // (al, bob of node a) or (dan, bob of node b): the neighbour and the
    // holder on the node that took the cluster's state.
    let (neighbour, holder) = match (renamed(&seen[2]), renamed(&seen[3])) {
        (true, false) => (1, 2),
        (false, true) => (0, 3),
        other => panic!("one bob renamed, not {other:?}: {seen:#?}"),
    };
    let lines = &seen[neighbour];
    let at = |what: &str| lines.iter().position(|l| l.starts_with(what));
    let rename = at("*** bob is now known as guest");
    let other_bob = at("*** bob joined #lobby");
    assert!(
        rename.is_some() && other_bob.is_some() && rename < other_bob,
        "client {neighbour} must hear of its bob's rename before the other bob joins: {lines:#?}"
    );
    assert!(!renamed(&seen[neighbour]), "{:#?}", seen[holder]);
    drop(redis);
}

/// A node stopped (SIGSTOP) while the others' clients exchange more lines
/// than the cluster's log holds: they are not held up. Resumed, the node's
/// client is told it fell behind, then that it is back, and lines cross
/// both ways again.
#[test]
fn a_slow_node_stalls_no_one_and_is_told_what_it_missed() {
    if !redis_or_skip("a_slow_node_stalls_no_one_and_is_told_what_it_missed") {
        return;
    }
    // The bound must hold what a node that keeps up can lag in a burst
    // (a node further behind than that is slow by definition, and goes
    // alone to catch up); the stopped node misses far more.
    const LINES: u32 = 2000;
    let redis = RedisServer::start();
    let log = ["--cluster-log", "1000"];
    let a = Node::start(&redis, 1, &log);
    let b = Node::start(&redis, 2, &log);
    let c = Node::start(&redis, 1, &log);
    let mut clients = vec![
        Client::line(a.line, "ann"),
        Client::line(b.line, "ben"),
        Client::line(c.line, "cat"),
    ];
    all_in(&mut clients);
    let [ann, ben, cat] = &mut clients[..] else {
        unreachable!()
    };

    c.server.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    for who in [&mut *ann, &mut *ben] {
        let lines: Vec<String> = (0..LINES).map(|n| format!("x {n}")).collect();
        who.say_all(&lines);
    }
    receive_numbered(ann, "ben", "x", LINES);
    receive_numbered(ben, "ann", "x", LINES);
    let took = stopped.elapsed();
    c.server.signal(libc::SIGCONT);
    // Well within the heartbeat's 3 s, or the node would be given up for
    // dead, which is another test.
    assert!(
        took < Duration::from_secs(2),
        "{LINES} lines each way took {took:?} with a node stopped"
    );

    let told = cat.expect(FELL_BEHIND);
    let missed: u64 = (told.split(FELL_BEHIND).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of changes missed: {told}"));
    assert!(missed > 0, "{told}");
    assert!(
        told.starts_with("*** ") && told.contains("#lobby"),
        "{told}"
    );
    let back = cat.expect(BACK);
    assert!(back.starts_with("*** "), "{back}");

    ann.say("ann to cat");
    cat.expect("<ann> ann to cat");
    cat.say("cat to ann");
    ann.expect("<cat> cat to ann");
    ben.expect("<cat> cat to ann");
}

/// An IRC client hears the cluster's notices as NOTICEs to #lobby, with
/// the line front-end's words, and sees the other node's people leave in a
/// netsplit and join again when it is over: its nick list stays true.
#[test]
fn irc_clients_are_told_in_notices_to_the_room() {
    if !redis_or_skip("irc_clients_are_told_in_notices_to_the_room") {
        return;
    }
    let mut redis = RedisServer::start();
    let port = redis.port();
    let a = Node::start(&redis, 1, &[]);
    let b = Node::start(&redis, 1, &[]);
    let mut clients = vec![Client::irc(a.irc, "ia"), Client::line(b.line, "lb")];
    all_in(&mut clients);
    let [ia, lb] = &mut clients[..] else {
        unreachable!()
    };
    lb.say("hello ia");
    ia.expect("hello ia");

    redis.stop();
    let seen = ia.lines_until_all(&[UNREACHABLE, ":lb!"]);
    let quit = seen.iter().find(|l| l.starts_with(":lb!")).unwrap();
    assert!(quit.ends_with(" QUIT :*.net *.split"), "{quit}");
    let told = seen.iter().find(|l| l.contains(UNREACHABLE)).unwrap();
    assert!(told.contains(" NOTICE #lobby :"), "{told}");
    redis = RedisServer::start_on(port);
    let seen = ia.lines_until_all(&[BACK, ":lb!"]);
    let join = seen.iter().find(|l| l.starts_with(":lb!")).unwrap();
    assert!(join.ends_with(" JOIN #lobby"), "{join}");
    let back = seen.iter().find(|l| l.contains(BACK)).unwrap();
    assert!(back.contains(" NOTICE #lobby :"), "{back}");
    lb.expect(BACK);
    lb.say("hello again");
    ia.expect("hello again");
    drop(redis);
}

/// Without a Redis to join, a node does not start alone as if nothing were
/// wrong: it exits and says why. (No redis-server needed.)
#[test]
fn a_node_that_cannot_reach_redis_does_not_start_and_says_why() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}");
    let out = bin().args(CHAT).args(["--cluster", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot join the cluster at {url}")) && stderr.contains("refused"),
        "{stderr}"
    );
    let bad = bin()
        .args(CHAT)
        .args(["--cluster", "http://x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("redis://HOST:PORT"),
        "{stderr}"
    );
}

/// A node told to stop while Redis is away (its link retrying with
/// backoff) stops cleanly, its own clients told.
#[test]
fn a_node_stops_cleanly_while_redis_is_away() {
    if !redis_or_skip("a_node_stops_cleanly_while_redis_is_away") {
        return;
    }
    let mut redis = RedisServer::start();
    let mut a = Node::start(&redis, 2, &[]);
    let mut alice = Client::line(a.line, "alice");
    redis.stop();
    alice.expect(UNREACHABLE);
    a.server.wait_for_log("cannot rejoin yet");
    a.server.signal(libc::SIGINT);
    alice.expect("shutdown server: the chat is closing");
    assert!(
        a.server.wait_exit().success(),
        "{}",
        a.server.log.join("\n")
    );
}

/// Redis hangs (SIGSTOP) for longer than a command may take, while every
/// thread of two nodes relays a flood of lines: the nodes go alone, and
/// rejoin when Redis goes on (one of them from the other's snapshot, with
/// lines still held for batching on its threads). Both stay up, and lines
/// cross again.
#[test]
fn nodes_rejoin_while_their_clients_flood() {
    if !redis_or_skip("nodes_rejoin_while_their_clients_flood") {
        return;
    }
    let redis = RedisServer::start();
    let a = Node::start(&redis, 4, &[]);
    let b = Node::start(&redis, 4, &[]);
    let mut watchers = vec![Client::line(a.line, "wa"), Client::line(b.line, "wb")];
    all_in(&mut watchers);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (0..16)
        .map(|i| {
            let addr = if i % 2 == 0 { a.line } else { b.line };
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Client::line(addr, &format!("f{i}"));
                // In a room of their own: the watchers, who read only now
                // and then, are not to be cut off for falling behind.
                c.send("/join #flood");
                c.expect("you are in #flood");
                let burst: Vec<String> = (0..20).map(|n| format!("flood {n}")).collect();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    c.say_all(&burst);
                    // Keep reading, or the server would (rightly) pause us.
                    while c.next_within(Duration::from_millis(1)).is_some() {}
                }
            })
        })
        .collect();
    for _ in 0..2 {
        redis.signal(libc::SIGSTOP);
        for w in &mut watchers {
            w.expect(UNREACHABLE);
        }
        redis.signal(libc::SIGCONT);
        for w in &mut watchers {
            w.expect(BACK);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let [wa, wb] = &mut watchers[..] else {
        unreachable!()
    };
    wa.say("still here");
    wb.expect("<wa> still here");
    for mut node in [a, b] {
        let running = node.server.child.try_wait().unwrap().is_none();
        node.server.signal(libc::SIGINT);
        assert!(
            running && node.server.wait_exit().success(),
            "{}",
            node.server.log.join("\n")
        );
    }
}

/// A node that finds no other when Redis is back founds the cluster anew
/// from its own chat: rooms keep their topics (nothing is wiped).
#[test]
fn a_node_alone_through_an_outage_keeps_its_rooms() {
    if !redis_or_skip("a_node_alone_through_an_outage_keeps_its_rooms") {
        return;
    }
    let mut redis = RedisServer::start();
    let port = redis.port();
    let a = Node::start(&redis, 2, &[]);
    let mut irc = Client::irc(a.irc, "ida");
    irc.send("JOIN #den\r\nTOPIC #den :the plan");
    irc.expect(" TOPIC #den :the plan");
    redis.stop();
    irc.expect(UNREACHABLE);
    let _redis = RedisServer::start_on(port);
    irc.expect(BACK);
    irc.send("TOPIC #den");
    let topic = irc.expect_any(&[" 332 ", " 331 "]);
    assert!(
        topic.contains(" 332 ") && topic.ends_with(":the plan"),
        "{topic}"
    );
}

/// IRC's `LUSERS` counts the cluster's users and servers, and this node's
/// own users as its local ones.
#[test]
fn lusers_counts_the_cluster_and_the_node() {
    if !redis_or_skip("lusers_counts_the_cluster_and_the_node") {
        return;
    }
    let redis = RedisServer::start();
    let a = Node::start(&redis, 1, &[]);
    let b = Node::start(&redis, 2, &[]);
    let mut clients = vec![Client::irc(a.irc, "ira"), Client::line(b.line, "lib")];
    all_in(&mut clients);
    let ira = &mut clients[0];
    ira.send("LUSERS");
    let all = ira.expect(" 251 ");
    assert!(
        all.ends_with(":There are 2 users and 0 invisible on 2 servers"),
        "{all}"
    );
    let me = ira.expect(" 255 ");
    assert!(me.ends_with(":I have 1 clients and 1 servers"), "{me}");
    let local = ira.expect(" 265 ");
    assert!(local.contains(":Current local users 1,"), "{local}");
    let global = ira.expect(" 266 ");
    assert!(global.contains(":Current global users 2,"), "{global}");
}

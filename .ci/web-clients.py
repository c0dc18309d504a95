#!/usr/bin/env python3
"""Acceptance test: the chat page in real browsers against a real
`switchboard chat`.

Two headless Chromium pages (Debian's chromium and chromium-driver, driven
by selenium) and `nc` on the line port meet in #lobby. The script types into each and checks what each shows: lines in
both directions, a nick change, a /me, a room switch with an unread count, a
message of HTML shown as text (and no alert), the server shutting down and
the pages reconnecting once it is back on the same ports. It also checks
that the browsers logged no errors (no CSP violations, no script errors).

Exit status: 0 when every check passed, 1 on the first failed one (the
server log and the pages' text are printed). Screenshots are saved in
${ARTIFACTS:-/tmp}/web-clients/; `--screenshot FILE` also saves the page in
use there (docs/web-page.png is made that way).

TLS mode (`--tls URL --line-port PORT --cert FILE`, which .ci/tls-clients.sh
runs): no server of its own; one page at the https:// URL of a running
`switchboard chat --web-tls`, with Chromium trusting the server's key (the
SPKI hash of the certificate FILE: any other certificate is still an error),
signs in, opens its WebSocket over wss:// and exchanges a line each way with
`nc` on the server's plain line port PORT in #lobby. Its screenshot goes to
${ARTIFACTS:-/tmp}/tls-clients/https-page.png.

Cluster mode (`--cluster`): a redis-server of its own on a free port and
two `switchboard chat --cluster` nodes; one page on node A, `nc` on node B:
lines both ways across the nodes; Redis stopped (the page says once that
the other servers are unreachable, and its member list loses nc) and
started again (back in touch, nc in the list again, lines flow). Its
screenshot goes to ${ARTIFACTS:-/tmp}/web-clients/cluster-page.png.

Needs python3 with selenium, chromium, chromedriver and nc (.ci/run
installs them); TLS mode needs openssl too, cluster mode redis-server.
Every wait has a deadline.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

TIMEOUT = 20  # seconds any one expected state may take
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SB = os.environ.get("SWITCHBOARD", os.path.join(ROOT, "target/debug/switchboard"))
OUT = os.path.join(os.environ.get("ARTIFACTS", "/tmp"), "web-clients")
XSS = "<img src=x onerror=alert(1)>"

checks = 0
nc_clients = []  # stopped at the end, whatever happened


class Failed(Exception):
    pass


def wait_until(what, cond, timeout=TIMEOUT):
    """Polls `cond` until it returns something true, and returns that."""
    end = time.monotonic() + timeout
    while True:
        try:
            got = cond()
        except Exception:  # a stale element while the page re-renders
            got = None
        if got:
            return got
        if time.monotonic() > end:
            raise Failed(f"timed out waiting for {what}")
        time.sleep(0.05)


def check(what, cond, timeout=TIMEOUT):
    global checks
    wait_until(what, cond, timeout)
    checks += 1
    print(f"ok {checks} - {what}", flush=True)


class Server:
    """`switchboard chat` on free ports (or the given ones), its log in a
    file."""

    def __init__(self, work, ports=None, extra=()):
        self.log_path = os.path.join(work, f"server-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        line, irc, web = ports or ("0", "0", "0")
        self.proc = subprocess.Popen(
            [SB, "chat", "--listen", f"127.0.0.1:{line}", "--irc", f"127.0.0.1:{irc}",
             "--web", f"127.0.0.1:{web}", "--shutdown-timeout", "1s", *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.ports = wait_until("the server's ports", self.read_ports)

    def read_ports(self):
        text = open(self.log_path).read()
        found = [re.search(rf"INFO {kind} listening on tcp 127\.0\.0\.1:(\d+)", text)
                 for kind in ("chat", "irc", "web")]
        return tuple(m.group(1) for m in found) if all(found) else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class LineClient:
    """`nc` on the line port, as a terminal user runs it: lines typed into
    its stdin, what the server sends read from its stdout."""

    def __init__(self, port):
        self.proc = subprocess.Popen(["nc", "127.0.0.1", str(port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        nc_clients.append(self)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.seen = []
        welcome = self.expect("the welcome", r"welcome to switchboard, (\w+)!")
        self.nick = re.search(r"welcome to switchboard, (\w+)!", welcome).group(1)

    def send(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def expect(self, what, pattern):
        """Reads lines until one matches `pattern` (a regex)."""
        global checks
        end = time.monotonic() + TIMEOUT
        for line in self.seen:
            if re.search(pattern, line):
                self.seen.remove(line)
                checks += 1
                print(f"ok {checks} - nc shows {what}", flush=True)
                return line
        out = self.proc.stdout.fileno()
        while time.monotonic() < end:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                line = raw.decode(errors="replace").rstrip("\r")
                if re.search(pattern, line):
                    checks += 1
                    print(f"ok {checks} - nc shows {what}", flush=True)
                    return line
                self.seen.append(line)
            ready, _, _ = select.select([out], [], [], max(0.01, end - time.monotonic()))
            if not ready:
                break
            chunk = os.read(out, 65536)
            if not chunk:
                break
            self.buf += chunk
        raise Failed(f"nc never showed {what} ({pattern!r}); it saw {self.seen[-20:]}")

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Page:
    """One browser, one chat page: http://127.0.0.1:`web_port`/, or `url`.
    `trust_spki`: the base64 SHA-256 of a server's public key (SPKI) whose
    certificate Chromium is to accept though no authority it knows signed
    it. `network_log`: keep the DevTools network events (websockets())."""

    def __init__(self, name, web_port=None, size=(1280, 800), url=None, trust_spki=None,
                 network_log=False):
        self.name = name
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", f"--window-size={size[0]},{size[1]}",
                    "--force-device-scale-factor=1"):
            options.add_argument(arg)
        if trust_spki:
            options.add_argument(f"--ignore-certificate-errors-spki-list={trust_spki}")
        prefs = {"browser": "ALL"}
        if network_log:
            prefs["performance"] = "ALL"
        options.set_capability("goog:loggingPrefs", prefs)
        service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.sockets = []
        self.url = url or f"http://127.0.0.1:{web_port}/"
        try:
            self.driver.set_page_load_timeout(TIMEOUT)
            self.driver.get(self.url)
        except Exception:
            self.driver.quit()  # no one else can: the caller gets no Page
            raise

    def websockets(self):
        """The URLs of the WebSockets the page has opened so far (from the
        DevTools network events; needs network_log)."""
        for entry in self.driver.get_log("performance"):
            event = json.loads(entry["message"])["message"]
            if event.get("method") == "Network.webSocketCreated":
                self.sockets.append(event["params"]["url"])
        return self.sockets

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def sign_in(self, nick):
        field = wait_until("the nick form", lambda: self.find("#nick-input"))
        field.clear()
        field.send_keys(nick + Keys.ENTER)
        check(f"{self.name} is connected", lambda: self.state() == "connected")
        check(f"{self.name} is in #lobby", lambda: self.current_room() == "#lobby")

    def state(self):
        return self.find("#status").get_attribute("data-state")

    def current_room(self):
        return self.find("#room-title").text.strip()

    def type(self, text):
        box = self.find("#input")
        box.send_keys(text + Keys.ENTER)

    def members(self):
        """The nicks in the member list."""
        return {m.get_attribute("data-nick") for m in self.finds("#members .member")}

    def messages(self):
        """The text of every message line shown (.msg), in order."""
        return [m.text for m in self.finds("#messages .msg")]

    def shows(self, what, pattern, css="#messages .msg"):
        check(f"{self.name} shows {what}",
              lambda: any(re.search(pattern, m.text) for m in self.finds(css)))

    def screenshot(self, name):
        path = os.path.join(OUT, name)
        self.driver.save_screenshot(path)
        return path

    def errors(self):
        """Browser log entries that are errors (CSP violations and script
        errors), but for the refused connections of the reconnect test,
        while the server was down on purpose."""
        return [e for e in self.driver.get_log("browser")
                if e["level"] == "SEVERE" and "ERR_CONNECTION_REFUSED" not in e["message"]]

    def quit(self):
        self.driver.quit()


class Redis:
    """A redis-server of our own on a free port of 127.0.0.1 (Cluster mode),
    restartable on the same port."""

    def __init__(self, work):
        sock = __import__("socket").socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.log_path = os.path.join(work, "redis.log")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=open(self.log_path, "a"), stderr=subprocess.STDOUT)
        wait_until("redis-server to answer", self.answers)

    def answers(self):
        import socket
        with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def cluster_main():
    """Cluster mode: the page on one node, nc on another, one Redis."""
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="web-clients-")
    redis = Redis(work)
    cluster = ("--cluster", f"redis://127.0.0.1:{redis.port}")
    nodes = [Server(work, extra=cluster) for _ in range(2)]
    return supervise(lambda pages: cluster_run(nodes, redis, pages), nodes, "failed-cluster-",
                     f"screenshot in {OUT}/cluster-page.png", redis.stop)


def supervise(scenario, servers, failed, done, stop_more=lambda: None):
    """Runs `scenario(pages)`; on a failed check, shows what the pages and
    the servers' logs say (screenshots named `failed`NAME.png); whatever
    happens, closes the pages and nc, stops the servers, then `stop_more`.
    Returns the exit status."""
    pages = []
    try:
        scenario(pages)
    except Failed as e:
        print(f"not ok - {e}", flush=True)
        for page in pages:
            page.screenshot(f"{failed}{page.name}.png")
            print(f"--- {page.name} shows:\n" + "\n".join(page.messages()[-30:]))
        for server in servers:
            print("--- server log:\n" + open(server.log_path).read()[-5000:])
        return 1
    finally:
        for page in pages:
            page.quit()
        for nc in nc_clients:
            nc.close()
        for server in servers:
            server.stop()
        stop_more()
    print(f"all {checks} checks passed; {done}")
    return 0


def cluster_run(nodes, redis, pages):
    web_port = nodes[0].ports[2]
    line_port = nodes[1].ports[0]
    print(f"redis {redis.port}; node A web port {web_port}; node B line port {line_port}",
          flush=True)
    page = Page("pat", web_port)
    pages.append(page)
    page.sign_in("pat")
    nc = LineClient(line_port)
    page.shows("nc's join, from the other node", rf"{nc.nick}")
    check("pat's member list has nc", lambda: nc.nick in page.members())
    nc.send("hello from node B")
    page.shows("nc's line across the nodes", r"hello from node B")
    page.type("hi from the page on node A")
    nc.expect("the page's line across the nodes", r"^<pat> hi from the page on node A$")

    redis.stop()
    page.shows("that the other servers are unreachable",
               r"other servers are unreachable: #lobby goes on with the people on this server")
    nc.expect("the same notice", r"^\*\*\* other servers are unreachable")
    check("pat's member list without nc (names asked again)",
          lambda: nc.nick not in page.members() and "pat" in page.members())

    redis.start()
    page.shows("that the servers are back in touch",
               r"back in touch with the other servers: #lobby has \d+ members?")
    nc.expect("the same notice", r"^\*\*\* back in touch with the other servers")
    check("pat's member list has nc again", lambda: nc.nick in page.members())
    nc.send("back again from node B")
    page.shows("nc's line after the rejoin", r"back again from node B")
    notices = [m for m in page.messages() if "other servers are unreachable" in m]
    if len(notices) != 1:
        raise Failed(f"the page was told {len(notices)} times that the others are unreachable")
    global checks
    checks += 1
    print(f"ok {checks} - pat was told once that the others are unreachable", flush=True)
    page.screenshot("cluster-page.png")
    errors = page.errors()
    if errors:
        raise Failed(f"the browser logged errors: {errors}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screenshot", help="also save the page in use here")
    parser.add_argument("--tls", metavar="URL",
                        help="TLS mode: check the page at this https:// URL of a running server")
    parser.add_argument("--line-port", metavar="PORT",
                        help="TLS mode: that server's plain line port, for nc")
    parser.add_argument("--cert", metavar="FILE",
                        help="TLS mode: the server's certificate (PEM), to trust")
    parser.add_argument("--cluster", action="store_true",
                        help="cluster mode: the page on one node, nc on another, "
                             "through a redis-server of its own")
    args = parser.parse_args()
    if args.cluster:
        return cluster_main()
    if args.tls:
        if not (args.line_port and args.cert):
            parser.error("--tls needs --line-port and --cert")
        return tls_main(args)
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="web-clients-")
    server = Server(work)
    line_port, irc_port, web_port = server.ports
    print(f"server: line port {line_port}, web port {web_port}", flush=True)
    return supervise(lambda pages: run(server, pages, args, work), [server], "failed-",
                     f"screenshots in {OUT}")


def run(server, pages, args, work):
    line_port, _, web_port = server.ports
    alice = Page("alice's page", web_port)
    pages.append(alice)
    bob = Page("bob's page", web_port)
    pages.append(bob)
    csp = alice.driver.execute_script(
        "return document.querySelectorAll('script:not([src])').length")
    check("the page has no inline script", lambda: csp == 0)
    alice.sign_in("alice")
    bob.sign_in("bob")
    nc = LineClient(line_port)
    alice.shows("nc's join", rf"{nc.nick}")
    check("alice sees bob and nc in the member list",
          lambda: {"bob", nc.nick} <= alice.members())

    # Lines in both directions.
    nc.send("hello from the terminal")
    alice.shows("nc's line", r"hello from the terminal")
    bob.shows("nc's line", r"hello from the terminal")
    alice.type("hi from the browser")
    nc.expect("alice's line", r"^<alice> hi from the browser$")
    bob.shows("alice's line", r"hi from the browser")

    # An action, a nick change.
    bob.type("/me waves")
    nc.expect("bob's action", r"^\* bob waves$")
    alice.shows("bob's action", r"bob waves", "#messages .msg.action")
    alice.type("/nick alicia")
    nc.expect("the nick change", r"alice is now known as alicia")
    bob.shows("the nick change", r"alicia")
    check("bob's member list has alicia", lambda: "alicia" in bob.members())

    # HTML in a message is text.
    nc.send(XSS)
    alice.shows("the HTML as text", re.escape(XSS))
    check("alice's page made no image of it",
          lambda: not alice.finds("#messages img"))
    check("no alert was raised", lambda: no_alert(alice) and no_alert(bob))

    # A room switch: alicia joins #rust; bob's lines there count as unread
    # while she looks at #lobby.
    alice.type("/join #rust")
    check("alicia's page switched to #rust", lambda: alice.current_room() == "#rust")
    check("#rust is in her room list",
          lambda: alice.finds('#rooms .room[data-room="#rust"]'))
    bob.type("/join rust")
    check("bob's page switched to #rust", lambda: bob.current_room() == "#rust")
    alice.find('#rooms .room[data-room="#lobby"]').click()
    check("alicia is back in #lobby", lambda: alice.current_room() == "#lobby")
    bob.type("anyone here in rust?")
    check("#rust shows an unread count on alicia's page", lambda: unread(alice, "#rust") == "1")
    alice.find('#rooms .room[data-room="#rust"]').click()
    alice.shows("bob's line in #rust", r"anyone here in rust\?")
    check("the unread count is cleared", lambda: unread(alice, "#rust") in ("", "0"))
    alice.type("yes, me")
    bob.shows("alicia's answer in #rust", r"yes, me")
    # Keyboard only: Alt+Up and Alt+Down move between conversations, and
    # the input keeps the focus.
    keys = ActionChains(alice.driver)
    keys.key_down(Keys.ALT).send_keys(Keys.ARROW_UP).key_up(Keys.ALT).perform()
    check("Alt+Up goes to #lobby", lambda: alice.current_room() == "#lobby")
    keys = ActionChains(alice.driver)
    keys.key_down(Keys.ALT).send_keys(Keys.ARROW_DOWN).key_up(Keys.ALT).perform()
    check("Alt+Down goes back to #rust", lambda: alice.current_room() == "#rust")
    check("the input box has the focus", lambda: alice.driver.switch_to.active_element
          == alice.find("#input"))
    alice.find('#rooms .room[data-room="#lobby"]').click()
    nc.send("back in the lobby?")
    alice.shows("nc's line after the switch", r"back in the lobby\?")
    path = alice.screenshot("in-use.png")
    if args.screenshot:
        # In the dark theme, which suits a README on either background.
        dark = [{"name": "prefers-color-scheme", "value": "dark"}]
        alice.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": dark})
        alice.driver.save_screenshot(args.screenshot)
        alice.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    print(f"screenshot: {path}")

    # The server goes away: the pages say so, then reconnect by themselves
    # once it is back, on the same ports.
    ports = server.ports
    server.stop()
    check("alicia's page shows it lost the server",
          lambda: alice.state() in ("reconnecting", "connecting", "disconnected"))
    bob.shows("the server's goodbye", r"shutting down|reconnect|lost", "#messages .msg")
    alice.screenshot("server-gone.png")
    server.__init__(work, ports)
    check("alicia's page reconnected", lambda: alice.state() == "connected", 45)
    check("bob's page reconnected", lambda: bob.state() == "connected", 45)
    check("bob's page is back in #rust", lambda: bob.current_room() == "#rust")
    check("bob's page rejoined #lobby too",
          lambda: bob.finds('#rooms .room[data-room="#lobby"]'))
    nc2 = LineClient(ports[0])
    nc2.send("welcome back")
    alice.shows("a line after the restart", r"welcome back")
    bob.find('#rooms .room[data-room="#lobby"]').click()
    bob.shows("a line after the restart", r"welcome back")
    alice.type("glad to be back")
    nc2.expect("alicia's line after the restart", r"^<alicia> glad to be back$")
    alice.screenshot("reconnected.png")

    # A phone-sized screen shows the same chat.
    alice.driver.set_window_size(375, 667)
    check("on a phone's width the side panels fold away behind buttons",
          lambda: alice.find("#toggle-rooms").is_displayed()
          and not alice.find("#sidebar").is_displayed()
          and not alice.find("#memberbar").is_displayed())
    check("the input box fits a phone's width",
          lambda: alice.find("#input").is_displayed()
          and alice.find("#input").size["width"] <= 375)
    alice.find("#toggle-rooms").click()
    check("the rooms panel opens on a phone", lambda: alice.driver.execute_script(
        "return document.getElementById('sidebar').getBoundingClientRect().left >= 0;")
        and alice.find('#rooms .room[data-room="#rust"]').is_displayed())
    alice.screenshot("phone-rooms.png")
    alice.find("#toggle-rooms").send_keys(Keys.ESCAPE)
    check("Escape closes it", lambda: not alice.find("#sidebar").is_displayed())
    alice.screenshot("phone.png")

    for page in pages:
        errors = page.errors()
        check(f"{page.name} logged no errors ({errors[:3]})", lambda: not errors)


def spki_sha256(cert):
    """The base64 SHA-256 of the public key (SubjectPublicKeyInfo) of the
    PEM certificate `cert`, as Chromium's --ignore-certificate-errors-spki-list
    takes it."""
    pem = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                         check=True, capture_output=True, text=True).stdout
    der = base64.b64decode("".join(line for line in pem.splitlines() if "-----" not in line))
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def tls_main(args):
    """TLS mode: one page at args.tls (https://) beside nc on the plain
    line port of the same server, which is not ours to start or stop."""
    out = os.path.join(os.environ.get("ARTIFACTS", "/tmp"), "tls-clients")
    os.makedirs(out, exist_ok=True)
    page = None
    try:
        page = Page("carol's page", url=args.tls, trust_spki=spki_sha256(args.cert),
                    network_log=True)
        tls_run(page, args)
        page.driver.save_screenshot(os.path.join(out, "https-page.png"))
    except Exception as e:  # Failed, or selenium's own (e.g. a refused page)
        print(f"not ok - {type(e).__name__}: {e}", flush=True)
        if page:
            try:
                page.driver.save_screenshot(os.path.join(out, "failed-https-page.png"))
                print(f"--- {page.name} shows:\n" + "\n".join(page.messages()[-30:]))
            except Exception as why:
                print(f"--- (and its page could not be shown: {why})")
        return 1
    finally:
        if page:
            page.quit()
        for nc in nc_clients:
            nc.close()
    print(f"all {checks} checks passed; screenshot in {out}/https-page.png", flush=True)
    return 0


def tls_run(page, args):
    wss = "wss://" + args.tls.split("://", 1)[1].rstrip("/") + "/ws"
    # Not Chromium's certificate warning in its place.
    check("the chat page came over https", lambda: page.driver.execute_script(
        "return location.protocol") == "https:" and page.finds("#nick-input"))
    page.sign_in("carol")
    check(f"its WebSocket is {wss}", lambda: page.websockets() == [wss])
    nc = LineClient(args.line_port)
    page.shows("nc's join", rf"{nc.nick} joined")
    nc.send("hello over https")
    page.shows("nc's line", r"hello over https")
    page.type("hi from wss")
    nc.expect("carol's line", r"^<carol> hi from wss$")
    errors = page.errors()
    check(f"{page.name} logged no errors ({errors[:3]})", lambda: not errors)


def no_alert(page):
    try:
        page.driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def unread(page, room):
    badge = page.finds(f'#rooms .room[data-room="{room}"] .unread')
    return badge[0].text.strip() if badge and badge[0].is_displayed() else ""


if __name__ == "__main__":
    sys.exit(main())

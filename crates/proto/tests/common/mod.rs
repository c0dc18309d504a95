//! What the property tests share.

use serde_json::Value;
use switchboard_proto::chat::core::ChatCore;

/// The shared state of `core` in a form two replicas agree on: its
/// snapshot with rooms named rather than numbered (a room's number is
/// each replica's own handle, and one that took a snapshot reuses freed
/// numbers in another order; no entry carries one).
pub fn state(core: &ChatCore) -> Value {
    let mut snapshot = serde_json::to_value(core.snapshot()).unwrap();
    let rooms = snapshot["rooms"].as_array().unwrap().clone();
    let name_of = |id: &Value| {
        let room = rooms.iter().find(|r| r[0] == *id);
        room.map(|r| r[1]["name"].clone())
    };
    for session in snapshot["sessions"].as_array_mut().unwrap() {
        let rooms = session[1]["rooms"].as_array().unwrap().iter();
        let names = rooms.map(|id| name_of(id).expect("a member's room exists"));
        session[1]["rooms"] = Value::Array(names.collect());
    }
    // A room that went while waiting for its summary stays listed (its
    // summary is skipped): by number, which means nothing elsewhere.
    let turnover = snapshot["turnover_rooms"].as_array().unwrap().iter();
    snapshot["turnover_rooms"] = Value::Array(turnover.filter_map(name_of).collect());
    let mut by_name: Vec<Value> = rooms.iter().map(|r| r[1].clone()).collect();
    by_name.sort_by_key(|r| r["name"].as_str().unwrap().to_string());
    snapshot["rooms"] = Value::Array(by_name);
    snapshot
}

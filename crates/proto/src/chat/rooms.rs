use std::collections::HashMap;

use slab::Slab;

use crate::chat::names::name_key;
use crate::ConnId;

/// Identifies a room while it exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoomId(pub usize);

/// A room: its display name and members, in joining order.
#[derive(Clone, Debug)]
pub struct Room {
    /// Display name, with its `#`.
    pub name: String,
    /// Who is in it.
    pub members: Vec<ConnId>,
}

/// All rooms. A room exists while it has members (the lobby always).
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: Slab<Room>,
    by_key: HashMap<String, RoomId>,
}

impl Rooms {
    /// The room called `name` (any case), if it exists.
    pub fn find(&self, name: &str) -> Option<RoomId> {
        self.by_key.get(&name_key(name)).copied()
    }

    /// Adds `conn` to the room called `name`, creating it if needed.
    pub fn join(&mut self, name: &str, conn: ConnId) -> RoomId {
        let id = match self.find(name) {
            Some(id) => id,
            None => {
                let id = RoomId(self.rooms.insert(Room {
                    name: name.to_string(),
                    members: Vec::new(),
                }));
                self.by_key.insert(name_key(name), id);
                id
            }
        };
        self.rooms[id.0].members.push(conn);
        id
    }

    /// Removes `conn` from `room`; the room goes when it is empty, unless it
    /// is `keep` (the lobby). Returns whether the room still exists.
    pub fn leave(&mut self, room: RoomId, conn: ConnId, keep: &str) -> bool {
        let r = &mut self.rooms[room.0];
        if let Some(i) = r.members.iter().position(|&m| m == conn) {
            r.members.swap_remove(i);
        }
        if r.members.is_empty() && name_key(&r.name) != name_key(keep) {
            let r = self.rooms.remove(room.0);
            self.by_key.remove(&name_key(&r.name));
            return false;
        }
        true
    }

    /// The room `id`.
    pub fn get(&self, id: RoomId) -> &Room {
        &self.rooms[id.0]
    }

    /// Every room, sorted by name.
    pub fn list(&self) -> Vec<&Room> {
        let mut rooms: Vec<&Room> = self.rooms.iter().map(|(_, r)| r).collect();
        rooms.sort_by_key(|r| name_key(&r.name));
        rooms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_appear_on_join_and_vanish_when_empty() {
        let mut rooms = Rooms::default();
        let lobby = rooms.join("#lobby", ConnId(1));
        let rust = rooms.join("#Rust", ConnId(2));
        assert_eq!(
            rooms.join("#rust", ConnId(3)),
            rust,
            "names are case-insensitive"
        );
        assert_eq!(rooms.get(rust).members, vec![ConnId(2), ConnId(3)]);
        rooms.leave(rust, ConnId(2), "#lobby");
        rooms.leave(rust, ConnId(3), "#lobby");
        assert_eq!(rooms.find("#rust"), None);
        rooms.leave(lobby, ConnId(1), "#lobby");
        assert_eq!(rooms.find("#lobby"), Some(lobby), "the lobby stays");
        let names: Vec<&str> = rooms.list().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["#lobby"]);
    }
}

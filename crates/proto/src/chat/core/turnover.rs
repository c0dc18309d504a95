/// Arrivals and departures in a crowded room since its last summary.
///
/// In a room of more than the announce limit, joins and departures are not
/// told to every member one by one (a join storm would cost each member a
/// line per joiner, and the server memory in proportion to joiners times
/// members): they are counted here, with the first few nicks, and told in
/// one summary event per period. Its size does not grow with the storm.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Turnover {
    /// How many joined.
    pub joined: usize,
    /// The first of them ([`Turnover::NAMED`] at most).
    pub joined_nicks: Vec<String>,
    /// How many left (parted or quit).
    pub left: usize,
    /// The first of them ([`Turnover::NAMED`] at most).
    pub left_nicks: Vec<String>,
}

impl Turnover {
    /// Most nicks a summary names of each kind.
    pub const NAMED: usize = 5;

    /// `nick` joined.
    pub fn add_joined(&mut self, nick: &str) {
        Self::add(&mut self.joined, &mut self.joined_nicks, nick);
    }

    /// `nick` left.
    pub fn add_left(&mut self, nick: &str) {
        Self::add(&mut self.left, &mut self.left_nicks, nick);
    }

    fn add(count: &mut usize, nicks: &mut Vec<String>, nick: &str) {
        *count += 1;
        if nicks.len() < Self::NAMED {
            nicks.push(nick.to_string());
        }
    }

    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        self.joined == 0 && self.left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_all_and_names_the_first_few() {
        let mut t = Turnover::default();
        assert!(t.is_empty());
        for i in 0..8 {
            t.add_joined(&format!("j{i}"));
        }
        t.add_left("gone");
        assert_eq!((t.joined, t.left), (8, 1));
        assert_eq!(t.joined_nicks, ["j0", "j1", "j2", "j3", "j4"]);
        assert_eq!(t.left_nicks, ["gone"]);
        assert!(!t.is_empty());
    }
}

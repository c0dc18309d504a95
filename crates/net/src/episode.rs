use std::sync::atomic::{AtomicU64, Ordering};

/// A condition every thread of a process shares (descriptors run out, the
/// connection limit, the poller's descriptor limit), logged once when an
/// episode of it begins rather than once per connection or per thread.
///
/// An episode ends at a success that surely came after a hit: on a thread
/// that hit it during that episode, or on one whose attempt began after
/// the episode did ([`Episode::before`]). Either way the resource was
/// truly freed in between. A success on another thread may have begun
/// before the hit (a connection accepted just under the limit, watched
/// just after another thread's refusal): ending the episode there would
/// warn again for the same one.
#[derive(Debug, Default)]
pub(crate) struct Episode {
    /// Odd while an episode lasts; each one begun or ended adds one.
    state: AtomicU64,
}

/// One thread's part in an [`Episode`].
#[derive(Debug, Default)]
pub(crate) struct EpisodeMark {
    /// The episode it last hit, if any.
    hit: Option<u64>,
    /// The episode's state when its current attempt began.
    seen: u64,
}

impl Episode {
    /// This thread is about to try (accept a connection): a success that
    /// follows, begun after the episode did, ends it.
    pub(crate) fn before(&self, mark: &mut EpisodeMark) {
        mark.seen = self.state.load(Ordering::Acquire);
    }

    /// This thread hit the condition. Returns whether that begins an
    /// episode (and so is worth a warning).
    pub(crate) fn handle_hit(&self, mark: &mut EpisodeMark) -> bool {
        let begun = (self.state).fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
            (state % 2 == 0).then_some(state + 1)
        });
        mark.hit = Some(begun.map_or_else(|lasting| lasting, |before| before + 1));
        begun.is_ok()
    }

    /// This thread got past the condition (accepted, admitted, watched a
    /// connection). Returns whether that ends the episode this thread hit.
    pub(crate) fn handle_success(&self, mark: &mut EpisodeMark) -> bool {
        let end = |episode: u64| {
            self.state
                .compare_exchange(episode, episode + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        let seen = std::mem::take(&mut mark.seen);
        mark.hit.take().is_some_and(end) || (seen % 2 == 1 && end(seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_warns_once_however_many_threads_hit_it() {
        let episode = Episode::default();
        let (mut a, mut b) = (EpisodeMark::default(), EpisodeMark::default());
        assert!(episode.handle_hit(&mut a));
        assert!(!episode.handle_hit(&mut b));
        assert!(!episode.handle_hit(&mut a));
        assert!(
            episode.handle_success(&mut b),
            "b hit it: b's success ends it"
        );
        assert!(episode.handle_hit(&mut a), "the next one warns again");
    }

    #[test]
    fn a_success_on_a_thread_that_did_not_hit_the_episode_does_not_end_it() {
        let episode = Episode::default();
        let (mut a, mut b) = (EpisodeMark::default(), EpisodeMark::default());
        assert!(episode.handle_hit(&mut a));
        // b's connection was accepted under the limit, before a's refusal.
        assert!(!episode.handle_success(&mut b));
        assert!(!episode.handle_hit(&mut a), "still the same episode");
        assert!(episode.handle_success(&mut a));
    }

    #[test]
    fn a_success_begun_after_the_episode_ends_it_on_any_thread() {
        let episode = Episode::default();
        let (mut a, mut b) = (EpisodeMark::default(), EpisodeMark::default());
        episode.before(&mut b); // b's attempt begins before a's hit...
        assert!(episode.handle_hit(&mut a));
        assert!(!episode.handle_success(&mut b), "... so proves nothing");
        episode.before(&mut b); // this one after it
        assert!(episode.handle_success(&mut b), "a descriptor was freed");
        assert!(!episode.handle_success(&mut a), "already over");
        assert!(episode.handle_hit(&mut a), "the next one warns");
    }

    #[test]
    fn a_thread_that_hit_an_earlier_episode_does_not_end_a_later_one() {
        let episode = Episode::default();
        let (mut a, mut b) = (EpisodeMark::default(), EpisodeMark::default());
        assert!(episode.handle_hit(&mut a));
        assert!(!episode.handle_hit(&mut b));
        assert!(episode.handle_success(&mut a));
        // A second episode, begun by a; b's success is late news of the
        // first one.
        assert!(episode.handle_hit(&mut a));
        assert!(!episode.handle_success(&mut b));
        assert!(!episode.handle_hit(&mut a));
    }
}

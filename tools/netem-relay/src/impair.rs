//! What happens to one datagram: dropped, or delivered after a delay. A pure
//! function of the impairment and a random number generator, so it is tested
//! without sockets or clocks.

use std::fmt;
use std::time::Duration;

use rand::Rng;

/// Latency, jitter and loss applied to each datagram, in each direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    delay: Duration,
    jitter: Duration,
    loss: f64,
}

/// Why an [`Impairment`] was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ImpairmentError {
    /// The loss probability is not a number in `[0, 1]`.
    Loss(f64),
}

impl fmt::Display for ImpairmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loss(loss) => write!(f, "loss must be a probability in [0, 1], not {loss}"),
        }
    }
}

impl std::error::Error for ImpairmentError {}

/// The fate of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Lost: never forwarded.
    Drop,
    /// Forwarded after this delay.
    Deliver(Duration),
}

impl Impairment {
    /// Datagrams wait `delay` ± `jitter` (uniformly, never below zero) and are
    /// lost with probability `loss`.
    pub fn new(delay: Duration, jitter: Duration, loss: f64) -> Result<Self, ImpairmentError> {
        if !(0.0..=1.0).contains(&loss) {
            return Err(ImpairmentError::Loss(loss));
        }
        Ok(Self { delay, jitter, loss })
    }

    /// No delay and no loss.
    pub fn none() -> Self {
        Self { delay: Duration::ZERO, jitter: Duration::ZERO, loss: 0.0 }
    }

    /// The mean delay.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The largest deviation from the mean delay.
    pub fn jitter(&self) -> Duration {
        self.jitter
    }

    /// The loss probability.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// The shortest and longest delay a delivered datagram can get.
    pub fn delay_bounds(&self) -> (Duration, Duration) {
        (self.delay.saturating_sub(self.jitter), self.delay.saturating_add(self.jitter))
    }

    /// Decides one datagram's fate. Loss is drawn first, so a given seed gives
    /// the same drops whatever the delay settings.
    pub fn decide<R: Rng + ?Sized>(&self, rng: &mut R) -> Verdict {
        if self.loss > 0.0 && rng.random::<f64>() < self.loss {
            return Verdict::Drop;
        }
        if self.jitter.is_zero() {
            return Verdict::Deliver(self.delay);
        }
        let (low, high) = self.delay_bounds();
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Verdict::Deliver(Duration::from_micros(rng.random_range(micros(low)..=micros(high))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn refuses_loss_outside_zero_to_one() {
        for loss in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(Impairment::new(ms(1), ms(0), loss).is_err(), "{loss}");
        }
        for loss in [0.0, 0.5, 1.0] {
            assert!(Impairment::new(ms(1), ms(0), loss).is_ok(), "{loss}");
        }
    }

    #[test]
    fn no_impairment_delivers_at_once() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert_eq!(Impairment::none().decide(&mut rng), Verdict::Deliver(Duration::ZERO));
        }
    }

    #[test]
    fn total_loss_drops_everything() {
        let mut rng = StdRng::seed_from_u64(2);
        let all = Impairment::new(ms(10), ms(5), 1.0).unwrap();
        assert!((0..1000).all(|_| all.decide(&mut rng) == Verdict::Drop));
    }

    #[test]
    fn without_jitter_the_delay_is_exact() {
        let mut rng = StdRng::seed_from_u64(3);
        let fixed = Impairment::new(ms(20), ms(0), 0.0).unwrap();
        assert!((0..1000).all(|_| fixed.decide(&mut rng) == Verdict::Deliver(ms(20))));
    }

    #[test]
    fn delays_stay_within_bounds_and_spread_over_them() {
        let mut rng = StdRng::seed_from_u64(4);
        let imp = Impairment::new(ms(20), ms(5), 0.0).unwrap();
        let delays: Vec<Duration> = (0..10_000)
            .map(|_| match imp.decide(&mut rng) {
                Verdict::Deliver(d) => d,
                Verdict::Drop => panic!("dropped with no loss"),
            })
            .collect();
        assert!(delays.iter().all(|d| (ms(15)..=ms(25)).contains(d)));
        assert!(delays.iter().any(|d| *d < ms(16)), "low end never reached");
        assert!(delays.iter().any(|d| *d > ms(24)), "high end never reached");
        let mean = delays.iter().sum::<Duration>() / 10_000;
        assert!((ms(19)..=ms(21)).contains(&mean), "mean {mean:?}");
    }

    #[test]
    fn jitter_larger_than_the_delay_never_goes_negative() {
        let mut rng = StdRng::seed_from_u64(5);
        let imp = Impairment::new(ms(2), ms(10), 0.0).unwrap();
        assert_eq!(imp.delay_bounds(), (Duration::ZERO, ms(12)));
        for _ in 0..1000 {
            let Verdict::Deliver(d) = imp.decide(&mut rng) else { panic!("dropped with no loss") };
            assert!(d <= ms(12));
        }
    }

    #[test]
    fn loss_rate_matches_the_probability() {
        let mut rng = StdRng::seed_from_u64(6);
        let imp = Impairment::new(ms(1), ms(1), 0.05).unwrap();
        let dropped = (0..100_000).filter(|_| imp.decide(&mut rng) == Verdict::Drop).count();
        // 5000 expected; the standard deviation is about 69.
        assert!((4600..=5400).contains(&dropped), "{dropped}");
    }

    #[test]
    fn a_seed_gives_the_same_verdicts() {
        let imp = Impairment::new(ms(20), ms(5), 0.1).unwrap();
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..100).map(|_| imp.decide(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        let mut rng = StdRng::seed_from_u64(9);
        let imp = Impairment::new(Duration::MAX, Duration::MAX, 0.0).unwrap();
        assert!(matches!(imp.decide(&mut rng), Verdict::Deliver(_)));
    }
}

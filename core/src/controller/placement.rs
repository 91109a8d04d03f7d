//! Replica placement, as Kafka's StripedReplicaPlacer does it: racks are visited round-robin from a random
//! rack, brokers within a rack round-robin from a random broker (unfenced ones first), and every partition
//! starts one rack and one broker further on, so replicas and leaders spread evenly ("striped"). The first
//! replica (the leader) is always an unfenced broker. When as many partitions were placed as there are
//! unfenced brokers, racks and brokers are shuffled so the same sets do not repeat.
//!
//! Randomness comes from the caller's seed (sans-IO: nothing here reads the OS).

use std::collections::BTreeMap;

use super::IdGenerator;

/// A broker that may take replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    pub id: i32,
    pub rack: Option<String>,
    pub fenced: bool,
}

/// Why replicas could not be placed (Kafka's INVALID_REPLICATION_FACTOR messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlacementError(pub String);

#[derive(Debug, Default)]
struct BrokerList {
    brokers: Vec<i32>,
    index: usize,
    offset: usize,
    epoch: usize,
}

impl BrokerList {
    fn initialize(&mut self, rng: &mut IdGenerator) {
        if !self.brokers.is_empty() {
            self.brokers.sort_unstable();
            self.offset = rng.below(self.brokers.len());
        }
    }

    fn shuffle(&mut self, rng: &mut IdGenerator) {
        rng.shuffle(&mut self.brokers);
    }

    /// The next broker for placement round `epoch`, or `None` when this round used them all.
    fn next(&mut self, epoch: usize) -> Option<i32> {
        if self.brokers.is_empty() {
            return None;
        }
        if self.epoch != epoch {
            self.epoch = epoch;
            self.index = 0;
            self.offset = (self.offset + 1) % self.brokers.len();
        }
        if self.index >= self.brokers.len() {
            return None;
        }
        let broker = self.brokers[(self.index + self.offset) % self.brokers.len()];
        self.index += 1;
        Some(broker)
    }
}

#[derive(Debug, Default)]
struct Rack {
    fenced: BrokerList,
    unfenced: BrokerList,
}

impl Rack {
    fn next(&mut self, epoch: usize) -> Option<i32> {
        self.unfenced.next(epoch).or_else(|| self.fenced.next(epoch))
    }
}

/// Places the replicas of a batch of new partitions.
#[derive(Debug)]
pub struct Placer<'a> {
    rng: &'a mut IdGenerator,
    racks: BTreeMap<Option<String>, Rack>,
    rack_names: Vec<Option<String>>,
    total: usize,
    unfenced: usize,
    epoch: usize,
    offset: usize,
}

impl<'a> Placer<'a> {
    pub fn new(rng: &'a mut IdGenerator, brokers: impl IntoIterator<Item = UsableBroker>) -> Self {
        let mut racks: BTreeMap<Option<String>, Rack> = BTreeMap::new();
        let (mut total, mut unfenced) = (0, 0);
        for b in brokers {
            let rack = racks.entry(b.rack).or_default();
            if b.fenced {
                rack.fenced.brokers.push(b.id);
            } else {
                rack.unfenced.brokers.push(b.id);
                unfenced += 1;
            }
            total += 1;
        }
        for rack in racks.values_mut() {
            rack.fenced.initialize(rng);
            rack.unfenced.initialize(rng);
        }
        // Sorted with the rack-less brokers first, as Kafka's comparator puts an empty Optional first.
        let rack_names: Vec<Option<String>> = racks.keys().cloned().collect();
        let offset = if rack_names.is_empty() { 0 } else { rng.below(rack_names.len()) };
        Placer { rng, racks, rack_names, total, unfenced, epoch: 0, offset }
    }

    /// Checks that `replication_factor` replicas can be placed at all.
    pub fn check(&self, replication_factor: i32) -> Result<(), PlacementError> {
        if replication_factor <= 0 {
            return Err(PlacementError(format!(
                "Invalid replication factor {replication_factor}: the replication factor must be positive."
            )));
        }
        if self.unfenced == 0 {
            return Err(PlacementError("All brokers are currently fenced.".into()));
        }
        if replication_factor as usize > self.total {
            return Err(PlacementError(format!(
                "The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
                self.total
            )));
        }
        Ok(())
    }

    /// The replicas of the next partition, leader first.
    pub fn place(&mut self, replication_factor: i32) -> Result<Vec<i32>, PlacementError> {
        self.check(replication_factor)?;
        if self.epoch == self.unfenced && self.unfenced > 1 {
            self.rng.shuffle(&mut self.rack_names);
            for rack in self.racks.values_mut() {
                rack.fenced.shuffle(self.rng);
                rack.unfenced.shuffle(self.rng);
            }
            self.epoch = 0;
        }
        if self.offset == self.rack_names.len() {
            self.offset = 0;
        }
        let n = self.rack_names.len();
        let mut replicas = Vec::with_capacity(replication_factor as usize);
        // The leader: the first unfenced broker from the starting rack on.
        let mut first_rack = self.offset;
        let leader = loop {
            let rack =
                self.racks.get_mut(&self.rack_names[first_rack]).ok_or_else(|| PlacementError("no rack".into()))?;
            if let Some(b) = rack.unfenced.next(self.epoch) {
                break b;
            }
            first_rack = (first_rack + 1) % n;
        };
        replicas.push(leader);
        let mut first_rack = Some(first_rack);
        let mut rack_index = self.offset;
        // Bounds the search: every rack is visited at most once per replica (plus the leader's skip).
        let mut visits_left = (replication_factor as usize + 1) * (n + 1) * (self.total + 1);
        while replicas.len() < replication_factor as usize {
            let mut next = None;
            while next.is_none() {
                visits_left =
                    visits_left.checked_sub(1).ok_or_else(|| PlacementError("placement found no broker".into()))?;
                if Some(rack_index) == first_rack {
                    first_rack = None;
                } else if let Some(rack) = self.racks.get_mut(&self.rack_names[rack_index]) {
                    next = rack.next(self.epoch);
                }
                rack_index = (rack_index + 1) % n;
            }
            if let Some(b) = next {
                replicas.push(b);
            }
        }
        self.epoch += 1;
        self.offset += 1;
        Ok(replicas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn brokers(ids: &[i32]) -> Vec<UsableBroker> {
        ids.iter().map(|&id| UsableBroker { id, rack: None, fenced: false }).collect()
    }

    #[test]
    fn replicas_are_distinct_and_leaders_balanced() {
        let mut rng = IdGenerator::new(11);
        let mut placer = Placer::new(&mut rng, brokers(&[1, 2, 3]));
        let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
        let mut replica_counts: BTreeMap<i32, usize> = BTreeMap::new();
        for _ in 0..30 {
            let replicas = placer.place(3).unwrap();
            assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), 3, "{replicas:?}");
            *leaders.entry(replicas[0]).or_default() += 1;
            for r in replicas {
                *replica_counts.entry(r).or_default() += 1;
            }
        }
        assert!(leaders.values().all(|&n| n == 10), "leaders spread evenly: {leaders:?}");
        assert!(replica_counts.values().all(|&n| n == 30));
        let mut placer = Placer::new(&mut rng, brokers(&[1, 2, 3, 4, 5]));
        let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
        for _ in 0..10 {
            let replicas = placer.place(2).unwrap();
            assert_ne!(replicas[0], replicas[1]);
            *leaders.entry(replicas[0]).or_default() += 1;
        }
        assert!(leaders.values().all(|&n| n == 2), "{leaders:?}");
    }

    #[test]
    fn leaders_are_unfenced_and_errors_are_kafkas() {
        let mut rng = IdGenerator::new(3);
        let mut set = brokers(&[1, 2]);
        set.push(UsableBroker { id: 3, rack: None, fenced: true });
        let mut placer = Placer::new(&mut rng, set);
        for _ in 0..10 {
            let replicas = placer.place(3).unwrap();
            assert_ne!(replicas[0], 3, "a fenced broker never leads a new partition");
        }
        assert_eq!(
            placer.place(4).unwrap_err().0,
            "The target replication factor of 4 cannot be reached because only 3 broker(s) are registered."
        );
        let mut placer = Placer::new(&mut rng, vec![UsableBroker { id: 1, rack: None, fenced: true }]);
        assert_eq!(placer.place(1).unwrap_err().0, "All brokers are currently fenced.");
    }

    #[test]
    fn racks_are_spread_first() {
        let mut rng = IdGenerator::new(5);
        let set = vec![
            UsableBroker { id: 1, rack: Some("a".into()), fenced: false },
            UsableBroker { id: 2, rack: Some("a".into()), fenced: false },
            UsableBroker { id: 3, rack: Some("b".into()), fenced: false },
            UsableBroker { id: 4, rack: Some("b".into()), fenced: false },
        ];
        let rack_of = |b: i32| if b <= 2 { "a" } else { "b" };
        let mut placer = Placer::new(&mut rng, set);
        for _ in 0..8 {
            let replicas = placer.place(2).unwrap();
            assert_ne!(rack_of(replicas[0]), rack_of(replicas[1]), "{replicas:?}");
        }
    }
}

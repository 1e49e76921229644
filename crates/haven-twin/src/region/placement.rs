//! Task placement, as a pure function of where a task set's tasks run: ECS's spread over the
//! Availability Zones a service can use. A new task goes to the usable AZ with the fewest tasks;
//! scale-in stops the newest task of the usable AZ with the most. Impaired AZs are not usable:
//! nothing is placed there, and their tasks do not count towards the spread.

use std::collections::BTreeMap;

/// A running task as placement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed<'a, K> {
    pub id: &'a str,
    pub az: &'a str,
    /// When it started (any order of time): scale-in stops the newest first.
    pub started: K,
}

/// Tasks per usable AZ, every usable AZ present (in name order).
fn spread<'a, K>(usable: &'a [String], tasks: &[Placed<'_, K>]) -> BTreeMap<&'a str, usize> {
    let mut per_az: BTreeMap<&str, usize> = usable.iter().map(|az| (az.as_str(), 0)).collect();
    for t in tasks {
        if let Some(n) = per_az.get_mut(t.az) {
            *n += 1;
        }
    }
    per_az
}

/// The AZs of `count` new tasks beside `running`: each in turn to the usable AZ with the fewest
/// tasks, the first in name order on a tie. Empty when no AZ is usable.
pub(crate) fn launch_azs<K>(
    usable: &[String],
    running: &[Placed<'_, K>],
    count: usize,
) -> Vec<String> {
    let mut per_az = spread(usable, running);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let Some((az, n)) = per_az.iter_mut().min_by_key(|(_, n)| **n) else {
            break;
        };
        *n += 1;
        out.push((*az).to_owned());
    }
    out
}

/// The tasks to stop to bring `running` down to `desired`, in order: each in turn the newest
/// task of the usable AZ with the most tasks (the last in name order on a tie). With no usable
/// AZ, the newest tasks anywhere. It may stop fewer than asked when the fullest usable AZ has
/// no task (the others run in impaired AZs, which a drill has already emptied).
pub(crate) fn scale_in<'a, K: Ord + Copy>(
    usable: &[String],
    running: &[Placed<'a, K>],
    desired: usize,
) -> Vec<&'a str> {
    let mut per_az = spread(usable, running);
    let mut left: Vec<Placed<'a, K>> = running.to_vec();
    let mut out = Vec::new();
    while left.len() > desired {
        let fullest = per_az
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(az, _)| (*az).to_owned());
        let pick = left
            .iter()
            .enumerate()
            .filter(|(_, t)| fullest.as_deref().is_none_or(|az| t.az == az))
            .max_by_key(|(_, t)| t.started)
            .map(|(i, _)| i);
        let Some(i) = pick else { break };
        let t = left.remove(i);
        if let Some(n) = per_az.get_mut(t.az) {
            *n -= 1;
        }
        out.push(t.id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Tasks `(id, az, started)`.
    fn tasks<'a>(list: &[(&'a str, &'a str, u32)]) -> Vec<Placed<'a, u32>> {
        list.iter()
            .map(|(id, az, started)| Placed {
                id,
                az,
                started: *started,
            })
            .collect()
    }

    #[test]
    fn new_tasks_fill_the_emptiest_az_first() {
        let ab = azs(&["a", "b"]);
        for (running, count, expect) in [
            (vec![], 4, vec!["a", "b", "a", "b"]),
            (vec![("t1", "a", 1), ("t2", "a", 2)], 3, vec!["b", "b", "a"]),
            (vec![("t1", "b", 1)], 1, vec!["a"]),
            // A task in an impaired AZ (not usable) does not count.
            (vec![("t1", "c", 1)], 2, vec!["a", "b"]),
        ] {
            assert_eq!(
                launch_azs(&ab, &tasks(&running), count),
                expect,
                "{running:?}"
            );
        }
        assert!(launch_azs(&[], &tasks(&[]), 2).is_empty(), "no AZ usable");
        assert_eq!(launch_azs(&azs(&["b"]), &tasks(&[]), 2), ["b", "b"]);
    }

    #[test]
    fn scale_in_stops_the_newest_task_of_the_fullest_az() {
        let ab = azs(&["a", "b"]);
        for (running, desired, expect) in [
            // b has two: its newest goes first, then the spread is even and b (last) loses again.
            (
                vec![("t1", "a", 1), ("t2", "b", 2), ("t3", "b", 3)],
                1,
                vec!["t3", "t2"],
            ),
            // Even spread: the last AZ in name order gives up its newest.
            (vec![("t1", "a", 5), ("t2", "b", 1)], 1, vec!["t2"]),
            (vec![("t1", "a", 1), ("t2", "b", 2)], 2, vec![]),
            // Tasks left only in an unusable AZ cannot be chosen: the fullest usable has none.
            (vec![("t1", "c", 1), ("t2", "c", 2)], 1, vec![]),
        ] {
            assert_eq!(
                scale_in(&ab, &tasks(&running), desired),
                expect,
                "{running:?} to {desired}"
            );
        }
        // With no usable AZ, the newest tasks go.
        assert_eq!(
            scale_in(&[], &tasks(&[("t1", "a", 1), ("t2", "b", 2)]), 1),
            ["t2"]
        );
    }

    /// Launching up to a count and scaling back in keeps the AZs within one task of each other.
    #[test]
    fn placement_stays_balanced() {
        let abc = azs(&["a", "b", "c"]);
        let names: Vec<String> = (0..9).map(|i| format!("t{i}")).collect();
        let placed = launch_azs(&abc, &tasks(&[]), 9);
        let running: Vec<Placed<'_, usize>> = names
            .iter()
            .zip(&placed)
            .enumerate()
            .map(|(i, (id, az))| Placed { id, az, started: i })
            .collect();
        for desired in (0..9).rev() {
            let stopped = scale_in(&abc, &running, desired);
            let kept: Vec<&Placed<'_, usize>> = running
                .iter()
                .filter(|t| !stopped.contains(&t.id))
                .collect();
            assert_eq!(kept.len(), desired);
            let counts: Vec<usize> = abc
                .iter()
                .map(|az| kept.iter().filter(|t| t.az == az).count())
                .collect();
            let (min, max) = (counts.iter().min(), counts.iter().max());
            assert!(max.zip(min).is_some_and(|(x, n)| x - n <= 1), "{counts:?}");
        }
    }
}

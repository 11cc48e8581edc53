//! The `needs` graph of a runbook: for each step, the steps it waits for (explicit
//! `needs`, or the step before it); its cycles, its waves of steps that may run at
//! once, and each step's ancestors (the steps surely finished before it starts).

use std::collections::{BTreeMap, BTreeSet};

use super::model::Runbook;

/// A runbook's dependency graph: for each step (by index), the steps it waits for.
#[derive(Clone, Debug)]
pub struct Graph {
    pub deps: Vec<Vec<usize>>,
}

impl Graph {
    /// Explicit `needs`, or else the step before (runbooks read top to bottom).
    pub fn of(runbook: &Runbook) -> Graph {
        let index: BTreeMap<&str, usize> = runbook
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.head.id.value.0.as_str(), i))
            .collect();
        let deps = runbook
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| match &s.head.needs {
                Some(needs) => {
                    // A step needing itself is reported on its own, not as a cycle.
                    let mut d: Vec<usize> = needs
                        .iter()
                        .filter_map(|n| index.get(n.value.as_str()).copied())
                        .filter(|&d| d != i)
                        .collect();
                    d.sort_unstable();
                    d.dedup();
                    d
                }
                None if i > 0 => vec![i - 1],
                None => Vec::new(),
            })
            .collect();
        Graph { deps }
    }

    /// For every step, the steps that must finish before it (transitively): one pass
    /// in wave order, so long chains stay linear in practice.
    pub fn ancestor_sets(&self) -> Vec<StepSet> {
        let n = self.deps.len();
        match self.waves() {
            Some(waves) => {
                let mut sets = vec![StepSet::new(n); n];
                for &i in waves.iter().flatten() {
                    let mut set = StepSet::new(n);
                    for &d in &self.deps[i] {
                        set.union_with(&sets[d]);
                        set.insert(d);
                    }
                    sets[i] = set;
                }
                sets
            }
            // With a cycle (reported on its own), fall back to a search per step.
            None => (0..n)
                .map(|i| {
                    let mut set = StepSet::new(n);
                    for d in self.ancestors(i) {
                        set.insert(d);
                    }
                    set
                })
                .collect(),
        }
    }

    /// Every step that must finish before step `i` (transitively).
    pub fn ancestors(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = self.deps.get(i).cloned().unwrap_or_default();
        while let Some(d) = stack.pop() {
            if seen.insert(d) {
                stack.extend(self.deps.get(d).into_iter().flatten().copied());
            }
        }
        seen
    }

    /// A cycle, as step indexes with the first repeated at the end, if there is one.
    pub fn cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let n = self.deps.len();
        let mut mark = vec![Mark::New; n];
        for start in 0..n {
            if mark[start] != Mark::New {
                continue;
            }
            // Iterative DFS keeping the path, so deep graphs cannot overflow the stack.
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            mark[start] = Mark::Open;
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                if let Some(&d) = self.deps[node].get(*next) {
                    *next += 1;
                    match mark[d] {
                        Mark::New => {
                            mark[d] = Mark::Open;
                            path.push((d, 0));
                        }
                        Mark::Open => {
                            let from = path.iter().position(|(p, _)| *p == d).unwrap_or(0);
                            let mut cycle: Vec<usize> =
                                path[from..].iter().map(|(p, _)| *p).collect();
                            cycle.push(d);
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    path.pop();
                }
            }
        }
        None
    }

    /// Steps grouped in waves: each wave's steps only wait for earlier waves, so the
    /// steps of one wave may run in parallel. `None` when there is a cycle.
    pub fn waves(&self) -> Option<Vec<Vec<usize>>> {
        let n = self.deps.len();
        // Kahn's algorithm, one wave at a time: a step is ready when all it needs is done.
        let mut waiting: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                dependents[d].push(i);
            }
        }
        let mut wave: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut waves = Vec::new();
        let mut placed = 0;
        while !wave.is_empty() {
            placed += wave.len();
            let mut next = Vec::new();
            for &i in &wave {
                for &j in &dependents[i] {
                    waiting[j] -= 1;
                    if waiting[j] == 0 {
                        next.push(j);
                    }
                }
            }
            next.sort_unstable();
            waves.push(std::mem::replace(&mut wave, next));
        }
        (placed == n).then_some(waves)
    }
}

/// A set of step indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepSet(Vec<u64>);

impl StepSet {
    pub fn new(n: usize) -> Self {
        StepSet(vec![0; n.div_ceil(64)])
    }
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    pub fn union_with(&mut self, other: &StepSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(deps: Vec<Vec<usize>>) -> Graph {
        Graph { deps }
    }

    #[test]
    fn waves_group_independent_steps() {
        let g = graph(vec![vec![], vec![0], vec![0], vec![1, 2]]);
        assert_eq!(g.waves(), Some(vec![vec![0], vec![1, 2], vec![3]]));
        assert_eq!(g.ancestors(3), BTreeSet::from([0, 1, 2]));
    }

    #[test]
    fn cycles_are_found_and_named_in_order() {
        let g = graph(vec![vec![2], vec![0], vec![1]]);
        assert_eq!(g.cycle(), Some(vec![0, 2, 1, 0]));
        assert_eq!(g.waves(), None);
    }

    #[test]
    fn a_deep_chain_has_no_cycle_and_no_stack_overflow() {
        let deps: Vec<Vec<usize>> = (0..100_000)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        assert_eq!(graph(deps).cycle(), None);
    }
}

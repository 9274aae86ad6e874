//! Run queues: crossbeam-deque normally; a loom-visible twin under `cfg(loom)`
//! (crossbeam-deque is not instrumented for loom), behind the same interface.

#[cfg(not(loom))]
mod imp {
    use crossbeam_deque::{Injector as CbInjector, Steal, Stealer as CbStealer, Worker};

    /// A worker's own FIFO queue.
    pub struct LocalQueue<T>(Worker<T>);
    /// Another worker's view of a [`LocalQueue`], to steal from.
    pub struct Stealer<T>(CbStealer<T>);
    /// The runtime's global queue (spawns and wake-ups from outside).
    pub struct Injector<T>(CbInjector<T>);

    impl<T> LocalQueue<T> {
        pub fn new() -> Self {
            LocalQueue(Worker::new_fifo())
        }
        pub fn push(&self, item: T) {
            self.0.push(item)
        }
        pub fn pop(&self) -> Option<T> {
            self.0.pop()
        }
        pub fn len(&self) -> usize {
            self.0.len()
        }
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.stealer())
        }
    }

    impl<T> Stealer<T> {
        /// Moves about half of the victim's queue into `into` and pops one of them.
        pub fn steal_into(&self, into: &LocalQueue<T>) -> Option<T> {
            loop {
                match self.0.steal_batch_and_pop(&into.0) {
                    Steal::Success(item) => return Some(item),
                    Steal::Empty => return None,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl<T> Injector<T> {
        pub fn new() -> Self {
            Injector(CbInjector::new())
        }
        pub fn push(&self, item: T) {
            self.0.push(item)
        }
        pub fn steal_into(&self, into: &LocalQueue<T>) -> Option<T> {
            loop {
                match self.0.steal_batch_and_pop(&into.0) {
                    Steal::Success(item) => return Some(item),
                    Steal::Empty => return None,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        pub fn pop(&self) -> Option<T> {
            loop {
                match self.0.steal() {
                    Steal::Success(item) => return Some(item),
                    Steal::Empty => return None,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}

#[cfg(loom)]
mod imp {
    use std::collections::VecDeque;

    use loom::sync::{Arc, Mutex};

    pub struct LocalQueue<T>(Arc<Mutex<VecDeque<T>>>);
    pub struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
    pub struct Injector<T>(Mutex<VecDeque<T>>);

    impl<T> LocalQueue<T> {
        pub fn new() -> Self {
            LocalQueue(Arc::new(Mutex::new(VecDeque::new())))
        }
        pub fn push(&self, item: T) {
            self.0.lock().unwrap().push_back(item)
        }
        pub fn pop(&self) -> Option<T> {
            self.0.lock().unwrap().pop_front()
        }
        pub fn len(&self) -> usize {
            self.0.lock().unwrap().len()
        }
        pub fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
        pub fn stealer(&self) -> Stealer<T> {
            Stealer(Arc::clone(&self.0))
        }
    }

    impl<T> Stealer<T> {
        pub fn steal_into(&self, _into: &LocalQueue<T>) -> Option<T> {
            self.0.lock().unwrap().pop_front()
        }
        pub fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
    }

    impl<T> Injector<T> {
        pub fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub fn push(&self, item: T) {
            self.0.lock().unwrap().push_back(item)
        }
        pub fn steal_into(&self, _into: &LocalQueue<T>) -> Option<T> {
            self.pop()
        }
        pub fn pop(&self) -> Option<T> {
            self.0.lock().unwrap().pop_front()
        }
        pub fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
    }
}

pub use imp::{Injector, LocalQueue, Stealer};

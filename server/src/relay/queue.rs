//! The bounded queues of a connection (hub events in, frames out). Unlike a tokio channel, which
//! allocates a cache-padded shared state and a first block of 32 slots up front (about 1 KiB per
//! channel), a queue here is a small shared state whose slots are allocated only while it holds
//! something: an idle connection pays for none.
//!
//! The one receiver waits on an `AtomicWaker`: registering is an atomic swap, and a sender's wake
//! when nobody waits is one atomic operation. A `Notify` took its waiter list's lock twice on
//! every wait the receiver's `select!` dropped unfinished, which was most of them: measured at
//! 4 % of the server's CPU in `relay`. Senders wait for room (rare) on a `Notify`.

use futures::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::Notify;

struct State<T> {
    /// Released whenever the queue drains: a connection that goes quiet keeps no slots.
    items: VecDeque<T>,
    senders: usize,
    receiver_alive: bool,
    /// A `send` found the queue full and waits for room: the receiver wakes it when it takes one.
    sender_waiting: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Wakes the receiver: something was queued, or the last sender left.
    item_ready: AtomicWaker,
    /// Wakes senders waiting for room: something was taken, or the receiver left.
    room: Notify,
}

/// Creates a queue that holds at most `capacity` items.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a queue needs room for one item");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiver_alive: true,
            sender_waiting: false,
        }),
        capacity,
        item_ready: AtomicWaker::new(),
        room: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// Why an item was not queued; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    Full(T),
    Closed(T),
}

pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` if there is room and the receiver is still there.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.offer(item, false)
    }

    fn offer(&self, item: T, will_wait: bool) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.state.lock().unwrap();
        if !state.receiver_alive {
            return Err(TrySendError::Closed(item));
        }
        if state.items.len() >= self.shared.capacity {
            state.sender_waiting |= will_wait;
            return Err(TrySendError::Full(item));
        }
        state.items.push_back(item);
        drop(state);
        self.shared.item_ready.wake();
        Ok(())
    }

    /// Queues `item`, waiting for room. Gives it back if the receiver is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        let mut item = match self.offer(item, false) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(back)) => return Err(back),
            Err(TrySendError::Full(back)) => back,
        };
        loop {
            // Registered before the check, so room made between the check and the wait is seen.
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.offer(item, true) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(back),
                Err(TrySendError::Full(back)) => item = back,
            }
            room.await;
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().unwrap().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock().unwrap();
        state.senders -= 1;
        let last = state.senders == 0;
        drop(state);
        if last {
            self.shared.item_ready.wake();
        }
    }
}

/// `check`'s answer if it has one; otherwise the task registers with `waker` and checks again,
/// so that what `check` waits for is seen whether it comes before the registration (the second
/// check) or after it (the wake). For waits with one waiting task, made afresh on every turn of a
/// `select!` loop: registering is an atomic swap, where a `Notify` takes a lock to join its
/// waiter list and another to leave it.
pub fn poll_woken_by<R>(waker: &AtomicWaker, cx: &Context<'_>, mut check: impl FnMut() -> Option<R>) -> Poll<R> {
    if let Some(ready) = check() {
        return Poll::Ready(ready);
    }
    waker.register(cx.waker());
    match check() {
        Some(ready) => Poll::Ready(ready),
        None => Poll::Pending,
    }
}

struct Finished(bool);

pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next item, if one is queued now.
    pub fn try_recv(&mut self) -> Option<T> {
        self.take().ok()
    }

    /// The next item; `None` once every sender is gone and the queue is empty. Cancel-safe: an
    /// item is only taken by a call that returns it.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        poll_woken_by(&self.shared.item_ready, cx, || match self.take() {
            Ok(item) => Some(Some(item)),
            Err(Finished(true)) => Some(None),
            Err(Finished(false)) => None,
        })
    }

    /// The next item, or whether every sender is gone.
    fn take(&self) -> Result<T, Finished> {
        let mut state = self.shared.state.lock().unwrap();
        let Some(item) = state.items.pop_front() else {
            return Err(Finished(state.senders == 0));
        };
        if state.items.is_empty() {
            state.items = VecDeque::new();
        }
        let wake_sender = std::mem::take(&mut state.sender_waiting);
        drop(state);
        if wake_sender {
            self.shared.room.notify_waiters();
        }
        Ok(item)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock().unwrap();
        state.receiver_alive = false;
        // Dropped outside the lock: an item's drop may take locks of its own.
        let items = std::mem::take(&mut state.items);
        drop(state);
        drop(items);
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn items_come_out_in_order_and_storage_is_released_when_drained() {
        let (tx, mut rx) = channel(8);
        for i in 0..5 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(tx.try_send(5), Ok(()));
        for i in 0..6 {
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(rx.shared.state.lock().unwrap().items.capacity(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_try_send_and_makes_send_wait_for_room() {
        let (tx, mut rx) = channel(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        let waiting = tokio::spawn(async move {
            tx.send(3).await.unwrap();
            tx
        });
        assert_eq!(rx.recv().await, Some(1));
        let tx = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("send got room")
            .unwrap();
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        drop(tx);
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn recv_wakes_for_an_item_queued_while_it_waits() {
        let (tx, mut rx) = channel(4);
        let reader = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.try_send(7).unwrap();
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .unwrap()
                .unwrap(),
            Some(7)
        );
    }

    #[tokio::test]
    async fn a_receive_dropped_unfinished_misses_nothing() {
        // As in a connection's loop: `recv` is one branch of a `select!` and is dropped unfinished
        // whenever another branch wins; the item queued afterwards still wakes the next one.
        let (tx, mut rx) = channel(4);
        for _ in 0..3 {
            tokio::select! {
                biased;
                _ = rx.recv() => panic!("nothing queued yet"),
                _ = tokio::task::yield_now() => {}
            }
        }
        let reader = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.send(5).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), reader).await.expect("woken").unwrap();
        assert_eq!(got, Some(5));
    }

    #[tokio::test]
    async fn senders_hear_that_the_receiver_is_gone() {
        let (tx, rx) = channel(1);
        tx.try_send(1).unwrap();
        let waiting = tokio::spawn(async move { tx.send(2).await });
        tokio::task::yield_now().await;
        drop(rx);
        let result = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("send woke")
            .unwrap();
        assert_eq!(result, Err(2));
    }

    #[tokio::test]
    async fn recv_ends_only_when_every_sender_is_gone() {
        let (tx, mut rx) = channel::<u8>(1);
        let second = tx.clone();
        drop(tx);
        second.try_send(9).unwrap();
        drop(second);
        assert_eq!(rx.recv().await, Some(9));
        assert_eq!(rx.recv().await, None);
    }
}

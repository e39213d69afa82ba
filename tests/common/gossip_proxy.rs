//! A UDP relay in front of each peer's gossip socket, so a test can cut the network
//! between groups of peers: each peer advertises its relay's address, every datagram to
//! it passes through the relay, and a partitioned datagram is dropped, exactly as a lost
//! one would be on a real network. No root, no network namespaces.
//!
//! chitchat answers a datagram to the address it came from, so the relay keeps one
//! upstream socket per sender: datagrams from sender S reach the peer from S's upstream
//! socket, and the peer's replies to that socket go back to S from the relay's address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Which side of a partition each peer is on (`None`: everyone talks).
#[derive(Clone, Default)]
struct Sides(Arc<Mutex<Option<HashMap<SocketAddr, u8>>>>);

impl Sides {
    /// Whether datagrams between the peers listening on `a` and `b` are dropped.
    fn cut(&self, a: SocketAddr, b: SocketAddr) -> bool {
        let sides = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match sides.as_ref() {
            Some(map) => match (map.get(&a), map.get(&b)) {
                (Some(x), Some(y)) => x != y,
                _ => false,
            },
            None => false,
        }
    }
}

/// Relays for a set of peers.
pub struct GossipProxy {
    sides: Sides,
    tasks: Vec<JoinHandle<()>>,
}

impl GossipProxy {
    /// An empty proxy.
    pub fn new() -> GossipProxy {
        GossipProxy {
            sides: Sides::default(),
            tasks: Vec::new(),
        }
    }

    /// Starts a relay for the peer listening on `peer`; returns the address the peer
    /// advertises.
    pub async fn front(&mut self, peer: SocketAddr) -> SocketAddr {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind relay"));
        let addr = front.local_addr().expect("relay addr");
        let sides = self.sides.clone();
        self.tasks.push(tokio::spawn(relay(front, peer, sides)));
        addr
    }

    /// Cuts the network between `left` and `right` (peers by their listen addresses).
    pub fn partition(&self, left: &[SocketAddr], right: &[SocketAddr]) {
        let mut map = HashMap::new();
        map.extend(left.iter().map(|a| (*a, 0u8)));
        map.extend(right.iter().map(|a| (*a, 1u8)));
        *self.sides.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(map);
    }

    /// Lets every datagram through again.
    pub fn heal(&self) {
        *self.sides.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for GossipProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Relays datagrams from any sender to `peer` and the peer's replies back.
async fn relay(front: Arc<UdpSocket>, peer: SocketAddr, sides: Sides) {
    let mut upstream: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut replies = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, from)) = front.recv_from(&mut buf).await {
        if sides.cut(from, peer) {
            continue;
        }
        let up = match upstream.get(&from) {
            Some(up) => up.clone(),
            None => {
                let Ok(sock) = UdpSocket::bind("127.0.0.1:0").await else {
                    continue;
                };
                let up = Arc::new(sock);
                upstream.insert(from, up.clone());
                replies.push(AbortOnDrop(tokio::spawn(back(
                    up.clone(),
                    front.clone(),
                    from,
                    peer,
                    sides.clone(),
                ))));
                up
            }
        };
        let _ = up.send_to(&buf[..n], peer).await;
    }
}

/// Stops a reply task when its relay stops (also when the relay is aborted).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends what `peer` answers on `up` back to `sender` from the relay's address.
async fn back(
    up: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    sender: SocketAddr,
    peer: SocketAddr,
    sides: Sides,
) {
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, _)) = up.recv_from(&mut buf).await {
        if sides.cut(peer, sender) {
            continue;
        }
        let _ = front.send_to(&buf[..n], sender).await;
    }
}

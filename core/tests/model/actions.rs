//! The model side of each operation: it drives the broker, records what is now owed to
//! whom, and checks the immediate answers (session present, takeover, grants, counters).

use std::collections::BTreeMap;
use std::time::Duration;

use mqlite::{Client, ConnectOptions, Message, NEVER_EXPIRE, QoS, SessionError, TryRecvError};

use super::reference::{Delivery, Model, Publication, Session, State, client_id, matches};
use super::{Check, FILTERS, MAX_INFLIGHT, TOPICS};

impl Model {
    pub(crate) fn connect(
        &mut self,
        slot: usize,
        clean_start: bool,
        persistent: bool,
        receive_maximum: u16,
        auto_ack: bool,
    ) -> Check {
        let expiry = if persistent {
            NEVER_EXPIRE
        } else {
            Duration::ZERO
        };
        let options = ConnectOptions::new(client_id(slot))
            .clean_start(clean_start)
            .session_expiry(expiry)
            .receive_maximum(receive_maximum)
            .auto_ack(auto_ack);
        let client = self
            .broker
            .connect(options)
            .map_err(|e| format!("connect failed: {e}"))?;
        let existing = self.slots[slot].session;
        let present = !clean_start && existing.is_some();
        ensure!(
            client.session_present() == present,
            "session present is {}, expected {present} [MQTT-3.2.2-1], [MQTT-3.2.2-2]",
            client.session_present()
        );
        if let Some(old) = self.slots[slot].client.take() {
            self.connection_ended(slot);
            let got = old.try_recv();
            ensure!(
                matches!(got, Err(TryRecvError::Session(SessionError::TakenOver))),
                "the taken-over handle still works: try_recv gave {got:?} [MQTT-3.1.4-2]"
            );
        }
        let id = match existing {
            Some(id) if !clean_start => id,
            _ => {
                if let Some(old) = existing {
                    self.discard(old);
                }
                self.sessions.push(Session {
                    slot,
                    alive: true,
                    online: false,
                    persistent,
                    subs: BTreeMap::new(),
                    conn: 0,
                    receive_maximum: 0,
                    max_receive_maximum: 0,
                    auto_ack,
                    deliveries: Vec::new(),
                    handouts: 0,
                    taken_since_release: 0,
                    interval: 0,
                    fresh_in_conn: false,
                    last_resend: None,
                });
                self.slots[slot].session = Some(self.sessions.len() - 1);
                self.sessions.len() - 1
            }
        };
        let s = &mut self.sessions[id];
        s.conn += 1;
        s.online = true;
        s.persistent = persistent;
        s.receive_maximum = usize::from(receive_maximum.clamp(1, MAX_INFLIGHT));
        s.max_receive_maximum = s.max_receive_maximum.max(s.receive_maximum);
        s.auto_ack = auto_ack;
        s.fresh_in_conn = false;
        s.last_resend = None;
        self.slots[slot].client = Some(client);
        Ok(())
    }

    /// The model side of a connection ending: held messages go stale, held room is released.
    fn connection_ended(&mut self, slot: usize) {
        if let Some(id) = self.slots[slot].session {
            let s = &mut self.sessions[id];
            s.online = false;
            s.interval += 1;
            s.taken_since_release = 0;
        }
        let held = std::mem::take(&mut self.slots[slot].held);
        for (m, _) in held {
            self.stale(slot, m);
        }
    }

    /// Keeps a message whose ack must from now on do nothing (a bounded number of them).
    fn stale(&mut self, slot: usize, m: Message) {
        let stale = &mut self.slots[slot].stale;
        if stale.len() == 32 {
            stale.remove(0);
        }
        stale.push(m);
    }

    fn discard(&mut self, id: usize) {
        let s = &mut self.sessions[id];
        s.alive = false;
        for &d in &s.deliveries {
            if self.deliveries[d].state == State::Pending {
                self.deliveries[d].state = State::Lost;
            }
        }
        self.slots[s.slot].session = None;
    }

    /// Clean disconnect (`clean`) or drop: a session that does not outlive its connection ends.
    pub(crate) fn end(&mut self, slot: usize, clean: bool) {
        let Some(client) = self.slots[slot].client.take() else {
            return;
        };
        if clean {
            client.disconnect();
        } else {
            drop(client);
        }
        self.connection_ended(slot);
        if let Some(id) = self.slots[slot].session
            && !self.sessions[id].persistent
        {
            self.discard(id);
        }
    }

    /// The connected handle and its session, if the client is connected.
    pub(crate) fn live(&self, slot: usize) -> Option<(&Client, usize)> {
        let client = self.slots[slot].client.as_ref()?;
        Some((client, self.slots[slot].session?))
    }

    pub(crate) fn subscribe(&mut self, slot: usize, filter: usize, qos: QoS) -> Check {
        let Some((client, id)) = self.live(slot) else {
            return Ok(());
        };
        let granted = client
            .subscribe(FILTERS[filter], qos)
            .map_err(|e| format!("subscribe failed: {e}"))?;
        ensure!(granted == qos, "granted {granted}, asked {qos}");
        self.sessions[id].subs.insert(filter, qos);
        Ok(())
    }

    pub(crate) fn unsubscribe(&mut self, slot: usize, filter: usize) -> Check {
        let Some((client, id)) = self.live(slot) else {
            return Ok(());
        };
        let existed = client
            .unsubscribe(FILTERS[filter])
            .map_err(|e| format!("unsubscribe failed: {e}"))?;
        let expected = self.sessions[id].subs.remove(&filter).is_some();
        ensure!(
            existed == expected,
            "unsubscribe says subscribed = {existed}, the model {expected}"
        );
        Ok(())
    }

    pub(crate) fn publish(&mut self, slot: usize, topic: usize, qos: QoS) -> Check {
        let Some((client, _)) = self.live(slot) else {
            return Ok(());
        };
        let before = self.broker.stats();
        let publication = self.publications.len();
        client
            .publish(TOPICS[topic], format!("c{slot}#{publication}"), qos, false)
            .map_err(|e| format!("publish failed: {e}"))?;
        let after = self.broker.stats();
        self.now += 1;
        let mut owed = Vec::new();
        let mut offline = 0;
        for id in 0..self.sessions.len() {
            let s = &mut self.sessions[id];
            let granted = s
                .subs
                .iter()
                .filter(|&(&f, _)| matches(FILTERS[f], TOPICS[topic]))
                .map(|(_, &q)| q)
                .max();
            let (true, Some(granted)) = (s.alive, granted) else {
                continue;
            };
            let effective = qos.min(granted);
            let queued = s.online || effective != QoS::AtMostOnce || self.queue_qos0;
            if !queued {
                offline += 1;
            }
            let d = self.deliveries.len();
            self.deliveries.push(Delivery {
                publication,
                qos: effective,
                state: if queued {
                    State::Pending
                } else {
                    State::NotQueued
                },
                offered_at: self.now,
                interval: s.interval,
                taken_since_release: s.taken_since_release,
                first_at: 0,
                handout: 0,
                packet_id: None,
                conn: 0,
                acked: false,
            });
            s.deliveries.push(d);
            self.by_key.insert((id, publication), d);
            owed.push(d);
        }
        let queue_full_drops = after.dropped_queue_full - before.dropped_queue_full;
        self.publications.push(Publication {
            publisher: slot,
            topic,
            qos,
            queue_full_drops,
            deliveries: owed,
        });
        self.offline_drops += offline;
        ensure!(
            after.dropped_offline - before.dropped_offline == offline,
            "{} offline drops counted, expected {offline} (QoS 0 to offline sessions, \
             queue_qos0_messages {})",
            after.dropped_offline - before.dropped_offline,
            self.queue_qos0
        );
        ensure!(
            self.max_queued.is_some() || queue_full_drops == 0,
            "{queue_full_drops} queue-full drops with queues far larger than the sequence"
        );
        let alive = self.sessions.iter().filter(|s| s.alive);
        let subscriptions: usize = alive.clone().map(|s| s.subs.len()).sum();
        let connected = self.slots.iter().filter(|s| s.client.is_some()).count();
        ensure!(
            (after.sessions, after.clients_connected, after.subscriptions)
                == (alive.count(), connected, subscriptions),
            "stats give (sessions, connected, subscriptions) = {:?}, the model {:?}",
            (after.sessions, after.clients_connected, after.subscriptions),
            (
                self.sessions.iter().filter(|s| s.alive).count(),
                connected,
                subscriptions
            )
        );
        Ok(())
    }

    /// Up to `max` try_recv calls; bit i of `ack` acknowledges the i-th at once, the rest
    /// are held.
    pub(crate) fn receive(&mut self, slot: usize, max: usize, ack: u8) -> Check {
        for i in 0..max {
            let Some((client, id)) = self.live(slot) else {
                return Ok(());
            };
            let got = client.try_recv();
            self.sessions[id].interval += 1;
            match got {
                Ok(m) => {
                    if let Some(d) = self.received(slot, &m)? {
                        if ack & (1 << i) != 0 {
                            self.ack(slot, m, d);
                        } else {
                            self.slots[slot].held.push((m, d));
                        }
                    }
                }
                Err(TryRecvError::Empty) => {
                    self.sessions[id].taken_since_release = 0;
                    return Ok(());
                }
                Err(e) => return Err(format!("try_recv failed on a live handle: {e}")),
            }
        }
        Ok(())
    }

    /// Acknowledges `m`, a message of the current connection (so the ack counts).
    pub(crate) fn ack(&mut self, slot: usize, m: Message, d: usize) {
        m.ack();
        self.deliveries[d].acked = true;
        self.stale(slot, m);
    }

    pub(crate) fn ack_held(&mut self, slot: usize, mask: u16) {
        let held = std::mem::take(&mut self.slots[slot].held);
        for (i, (m, d)) in held.into_iter().enumerate() {
            if i < 16 && mask & (1 << i) != 0 {
                self.ack(slot, m, d);
            } else {
                self.slots[slot].held.push((m, d));
            }
        }
    }
}

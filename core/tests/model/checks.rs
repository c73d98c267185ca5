//! The checks: every received message against the model, a full drain against what is owed,
//! and the final totals and drop-newest bound.

use mqlite::{Message, QoS, TryRecvError};

use super::reference::{Delivery, Model, State, in_window};
use super::{CLIENTS, Check, MAX_INFLIGHT, STAGING, TOPICS};

impl Model {
    /// Checks one received message against the model; returns its delivery if it awaits an
    /// ack.
    pub(crate) fn received(&mut self, slot: usize, m: &Message) -> Result<Option<usize>, String> {
        self.now += 1;
        self.receptions += 1;
        let id = self.slots[slot].session.ok_or("no session")?;
        let payload = String::from_utf8_lossy(m.payload()).into_owned();
        let (publisher, publication) = payload
            .strip_prefix('c')
            .and_then(|p| p.split_once('#'))
            .and_then(|(c, n)| Some((c.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .ok_or_else(|| format!("unknown payload {payload:?}"))?;
        let p = self
            .publications
            .get(publication)
            .ok_or_else(|| format!("payload {payload:?} was never published"))?;
        ensure!(
            (publisher, m.topic()) == (p.publisher, TOPICS[p.topic]),
            "{payload:?} arrived on {:?}, published on {:?}",
            m.topic(),
            TOPICS[p.topic]
        );
        let what = format!(
            "c{slot} (session #{id}) got {payload:?} ({} QoS {} -> {}, dup {}, packet id {:?})",
            TOPICS[p.topic],
            p.qos.as_u8(),
            m.qos().as_u8(),
            m.dup(),
            m.packet_id()
        );
        let Some(&d) = self.by_key.get(&(id, publication)) else {
            return Err(format!(
                "{what}, but it had no matching subscription when that was published \
                 [MQTT-3.10.4-2], [MQTT-3.1.2-6]"
            ));
        };
        let s = &mut self.sessions[id];
        let delivery = &mut self.deliveries[d];
        ensure!(
            m.qos() == delivery.qos,
            "{what}: expected QoS {}, min(publish QoS, highest granted) [MQTT-3.8.4-6], \
             [MQTT-3.3.5-1]",
            delivery.qos.as_u8()
        );
        ensure!(
            m.packet_id().is_some() == (m.qos() != QoS::AtMostOnce),
            "{what}: a packet id iff QoS > 0 [MQTT-2.3.1-1], [MQTT-2.3.1-5]"
        );
        match delivery.state {
            State::Pending => {
                ensure!(
                    !m.dup(),
                    "{what}: DUP set on a first delivery [MQTT-3.3.1-1], [MQTT-4.3.2-1]"
                );
                let key = (id, publisher, p.topic);
                if let Some(&last) = self.last_first.get(&key) {
                    ensure!(
                        last < publication,
                        "{what} after c{publisher}#{last}: out of publish order \
                         [MQTT-4.6.0-6]"
                    );
                }
                self.last_first.insert(key, publication);
                if let Some(packet_id) = m.packet_id() {
                    let clash = s.deliveries.iter().find(|&&e| {
                        let e = &self.deliveries[e];
                        e.state == State::Received
                            && in_window(e, s.conn)
                            && e.packet_id == Some(packet_id)
                    });
                    ensure!(
                        clash.is_none(),
                        "{what}: packet id in use by an unacknowledged delivery [MQTT-2.3.1-2]"
                    );
                }
                let delivery = &mut self.deliveries[d];
                delivery.state = State::Received;
                delivery.first_at = self.now;
                delivery.handout = s.handouts;
                delivery.packet_id = m.packet_id();
                s.handouts += 1;
                s.taken_since_release += 1;
                s.fresh_in_conn = true;
                self.first_receptions += 1;
            }
            State::Received => {
                ensure!(
                    delivery.qos == QoS::AtLeastOnce,
                    "{what}: a QoS {} delivery received twice [MQTT-4.3.1-1], [MQTT-4.3.3-1]",
                    delivery.qos.as_u8()
                );
                ensure!(
                    !delivery.acked && delivery.conn < s.conn,
                    "{what}: redelivered {}; only unacknowledged messages are resent, \
                     on resume [MQTT-4.4.0-1]",
                    if delivery.acked {
                        "after its ack"
                    } else {
                        "on the connection that received it"
                    }
                );
                ensure!(m.dup(), "{what}: a resend must set DUP [MQTT-3.3.1-1]");
                ensure!(
                    m.packet_id() == delivery.packet_id,
                    "{what}: resent with another packet id than {:?} [MQTT-4.4.0-1]",
                    delivery.packet_id
                );
                ensure!(
                    !s.fresh_in_conn,
                    "{what}: resent after a new message on this connection; resends go first"
                );
                ensure!(
                    s.last_resend < Some(delivery.handout),
                    "{what}: resends out of their original order [MQTT-4.6.0-1]"
                );
                s.last_resend = Some(delivery.handout);
            }
            State::NotQueued => {
                return Err(format!(
                    "{what}: QoS 0 published while the session was offline, with \
                     queue_qos0_messages off"
                ));
            }
            State::Dropped | State::Lost => {
                return Err(format!("{what}, but a full drain had shown it missing"));
            }
        }
        let delivery = &mut self.deliveries[d];
        delivery.conn = s.conn;
        delivery.acked = delivery.qos == QoS::AtMostOnce || s.auto_ack;
        let awaits_ack = !delivery.acked;
        let outstanding = s
            .deliveries
            .iter()
            .filter(|&&e| {
                let e = &self.deliveries[e];
                e.state == State::Received && e.conn == s.conn && in_window(e, s.conn)
            })
            .count();
        ensure!(
            outstanding <= s.receive_maximum,
            "{what}: {outstanding} unacknowledged on this connection, receive maximum {} \
             (MQTT 5.0 §3.3.4, [MQTT-4.9.0-2])",
            s.receive_maximum
        );
        Ok(awaits_ack.then_some(d))
    }

    /// Acks everything held, then receives and acks until nothing is left; every delivery
    /// owed to the session must then have arrived.
    pub(crate) fn drain(&mut self, slot: usize) -> Check {
        if self.live(slot).is_none() {
            return Ok(());
        }
        for (m, d) in std::mem::take(&mut self.slots[slot].held) {
            self.ack(slot, m, d);
        }
        let mut drained = 0usize;
        loop {
            let (client, id) = self.live(slot).ok_or("disconnected")?;
            let got = client.try_recv();
            self.sessions[id].interval += 1;
            match got {
                Ok(m) => {
                    drained += 1;
                    ensure!(drained < 1_000_000, "drain does not end");
                    if let Some(d) = self.received(slot, &m)? {
                        self.ack(slot, m, d);
                    }
                }
                Err(TryRecvError::Empty) => {
                    self.sessions[id].taken_since_release = 0;
                    break;
                }
                Err(e) => return Err(format!("try_recv failed on a live handle: {e}")),
            }
        }
        let id = self.slots[slot].session.ok_or("no session")?;
        let s = &self.sessions[id];
        if let Some(max) = self.max_queued {
            let bound = max + STAGING + s.max_receive_maximum;
            ensure!(
                drained <= bound,
                "c{slot} drained {drained} messages at once, above max_queued_messages {max} \
                 + {STAGING} staged + receive maximum {}",
                s.max_receive_maximum
            );
        }
        for &d in &s.deliveries {
            let delivery = &mut self.deliveries[d];
            let p = &self.publications[delivery.publication];
            let what = format!(
                "c{slot} (session #{id}): c{}#{} ({} QoS {} -> {})",
                p.publisher,
                delivery.publication,
                TOPICS[p.topic],
                p.qos.as_u8(),
                delivery.qos.as_u8()
            );
            match delivery.state {
                State::Pending if self.max_queued.is_some() => delivery.state = State::Dropped,
                State::Pending => {
                    return Err(format!(
                        "{what} never arrived, though it matched a subscription when published \
                         [MQTT-4.5.0-1]"
                    ));
                }
                State::Received if delivery.qos == QoS::AtLeastOnce && !delivery.acked => {
                    return Err(format!(
                        "{what} was left unacknowledged on connection {} and not resent on \
                         resume [MQTT-4.4.0-1]",
                        delivery.conn
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Drains every session that still exists (resuming offline ones) and checks the totals.
    pub(crate) fn finish(&mut self) -> Check {
        for slot in 0..CLIENTS {
            if self.slots[slot].client.is_none() && self.slots[slot].session.is_some() {
                self.connect(slot, false, true, MAX_INFLIGHT, false)?;
            }
            self.drain(slot)?;
        }
        let stats = self.broker.stats();
        ensure!(
            stats.dropped_offline == self.offline_drops,
            "dropped_offline {} , expected {}",
            stats.dropped_offline,
            self.offline_drops
        );
        let counted: u64 = self.publications.iter().map(|p| p.queue_full_drops).sum();
        ensure!(
            stats.dropped_queue_full == counted,
            "dropped_queue_full {} but publishes added {counted}",
            stats.dropped_queue_full
        );
        ensure!(
            (self.first_receptions..=self.receptions).contains(&stats.messages_sent),
            "messages_sent {}, but {} first receptions and {} in all",
            stats.messages_sent,
            self.first_receptions,
            self.receptions
        );
        for (i, p) in self.publications.iter().enumerate() {
            let count = |state| {
                p.deliveries
                    .iter()
                    .filter(|&&d| self.deliveries[d].state == state)
                    .count() as u64
            };
            let (dropped, lost) = (count(State::Dropped), count(State::Lost));
            ensure!(
                (dropped..=dropped + lost).contains(&p.queue_full_drops),
                "c{}#{i}: {} queue-full drops counted, but {dropped} deliveries went missing \
                 (and {lost} more were pending when their sessions were discarded)",
                p.publisher,
                p.queue_full_drops
            );
        }
        if let Some(max) = self.max_queued {
            for id in 0..self.sessions.len() {
                self.check_drop_newest(id, max)?;
            }
        }
        Ok(())
    }

    /// The drop-newest bound, observed: see the module docs, item 7.
    fn check_drop_newest(&self, id: usize, max: usize) -> Check {
        let queued: Vec<&Delivery> = self.sessions[id]
            .deliveries
            .iter()
            .map(|&d| &self.deliveries[d])
            .filter(|d| d.state != State::NotQueued)
            .collect();
        let name = |d: &Delivery| {
            let p = &self.publications[d.publication];
            format!("c{}#{}", p.publisher, d.publication)
        };
        for run in queued.chunk_by(|a, b| a.interval == b.interval) {
            let mut first_dropped = None;
            let mut accepted = 0;
            for d in run {
                match d.state {
                    State::Dropped => {
                        first_dropped.get_or_insert(*d);
                    }
                    State::Received => {
                        if let Some(dropped) = first_dropped {
                            return Err(format!(
                                "session #{id}: {} was dropped but the newer {} accepted with \
                                 no consumer action between: not drop-newest",
                                name(dropped),
                                name(d)
                            ));
                        }
                        accepted += 1;
                    }
                    State::Lost => {}
                    State::Pending | State::NotQueued => {
                        return Err(format!("model: {} still {:?}", name(d), d.state));
                    }
                }
            }
            ensure!(
                accepted <= max,
                "session #{id} accepted {accepted} deliveries with no consumer action between, \
                 above max_queued_messages {max}"
            );
        }
        for d in queued.iter().filter(|d| d.state == State::Dropped) {
            let waiting = queued
                .iter()
                .filter(|e| {
                    e.offered_at < d.offered_at
                        && (e.state == State::Lost
                            || (e.state == State::Received && e.first_at > d.offered_at))
                })
                .count();
            ensure!(
                waiting + d.taken_since_release >= max,
                "session #{id}: {} dropped when {waiting} accepted deliveries waited and {} \
                 taken ones may still have held room, below max_queued_messages {max}",
                name(d),
                d.taken_since_release
            );
        }
        Ok(())
    }
}

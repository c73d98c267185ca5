//! The publish path: limits, the authorize hook, the retained store, fan-out, and waiting
//! for room; the broker's own messages (`$SYS`, wills).

use bytes::Bytes;

use super::Engine;
use super::room::RoomWait;
use crate::router::RouteCache;
use crate::session::{Session, SessionKey};
use crate::sync::{Arc, Mutex, Ordering, ValueArc};
use crate::types::error::{LimitError, PublishError, SessionError};
use crate::types::hooks::{DenyReason, Event};
use crate::types::message::{Deadline, Delivery, Publication, origin_of};
use crate::types::publish_options::PublishOptions;
use crate::types::topic::TopicName;
use crate::types::will::Will;

impl Engine {
    /// Checks a topic and payload against the configured limits.
    pub(crate) fn check_limits(
        &self,
        topic: &TopicName,
        payload_len: usize,
    ) -> Result<(), LimitError> {
        self.check_shape(topic.as_str().len(), topic.level_count())?;
        let max = self.config.max_payload_size;
        if payload_len > max {
            return Err(LimitError::PayloadTooLarge {
                size: payload_len,
                max,
            });
        }
        Ok(())
    }

    /// Checks a topic name's or filter's length and level count against the configured
    /// limits.
    pub(crate) fn check_shape(&self, len: usize, levels: usize) -> Result<(), LimitError> {
        let c = &self.config;
        if len > c.max_topic_length {
            return Err(LimitError::TopicTooLong {
                len,
                max: c.max_topic_length,
            });
        }
        if levels > c.max_topic_levels {
            return Err(LimitError::TooManyLevels {
                levels,
                max: c.max_topic_levels,
            });
        }
        Ok(())
    }

    /// Publishes one message from session `origin` (or from the broker itself), using and
    /// refreshing the publisher's route cache if it has one and nobody else holds it; waits
    /// for room (blocking this thread) if the options ask for it.
    pub(crate) fn publish(
        &self,
        origin: Option<(SessionKey, &str, Option<&str>)>,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
        cache: Option<&Mutex<RouteCache>>,
    ) -> Result<(), PublishError> {
        let started = self.publish_start(origin, topic, payload, options, cache)?;
        let mut full = started.full;
        if let (Some(wait), false) = (options.wait_if_full, started.blocked.is_empty()) {
            let room = RoomWait::new(self, started.blocked, wait);
            full = full.or(room.block(options.interrupt.as_ref()));
        }
        publish_result(full, options)
    }

    /// The publish up to waiting for room: limits, hooks, retained store, fan-out. Returns
    /// the deliveries handed back by full queues (only when the options wait for room) and
    /// the first session whose full queue dropped the message.
    #[inline]
    pub(crate) fn publish_start(
        &self,
        origin: Option<(SessionKey, &str, Option<&str>)>,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
        cache: Option<&Mutex<RouteCache>>,
    ) -> Result<Started, PublishError> {
        self.check_limits(&topic, payload.len())?;
        if let Some((_, client_id, username)) = origin {
            self.authorize_publish(client_id, username, &topic, options)?;
        }
        let publication = Publication {
            expires_at: self.expiry_deadline(options),
            inbound_id: options.inbound_id,
            topic,
            payload,
            qos: options.qos,
            retain: options.retain,
            properties: options.properties.clone(),
            origin: origin.and_then(|(key, _, _)| origin_of(key)),
        };
        let mut effects = self.effects();
        effects.hand_back_full = options.wait_if_full.is_some();
        let failures = self.store_failures();
        {
            let router = self.router.read();
            if router.is_closed() && origin.is_some() {
                return Err(SessionError::BrokerClosed.into());
            }
            if publication.retain {
                self.retain(&publication)
                    .map_err(|full| PublishError::RetainedStoreFull {
                        count: full.count,
                        bytes: full.bytes,
                    })?;
            }
            let mut cache = cache.and_then(Mutex::try_lock);
            router.route(publication, &mut effects, cache.as_deref_mut());
        }
        let blocked = effects.take_blocked();
        let full = effects.first_full.take();
        self.run_effects(effects);
        self.check_recorded(failures)?;
        Ok(Started { blocked, full })
    }

    /// The hooks' `authorize_publish`; a refusal is reported and returned as an error.
    fn authorize_publish(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &TopicName,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        let Some(hooks) = &self.hooks else {
            return Ok(());
        };
        let info = Self::client_info(client_id, username);
        if hooks.authorize_publish(&info, topic, options.qos, options.retain) {
            return Ok(());
        }
        self.emit(&Event::PublishDenied {
            client_id,
            topic: topic.as_str(),
            reason: DenyReason::Hooks,
        });
        Err(PublishError::NotAuthorized {
            topic: topic.as_str().to_owned(),
        })
    }

    /// When a message published now with `options` expires.
    fn expiry_deadline(&self, options: &PublishOptions) -> Deadline {
        options
            .properties
            .as_ref()
            .and_then(|p| p.message_expiry_interval)
            .map_or(Deadline::NONE, |interval| {
                Deadline::at(self.clock.now().saturating_add(interval))
            })
    }

    /// Publishes a message of the broker's own (`$SYS`, a will) without hooks or limits.
    pub(crate) fn publish_internal(
        &self,
        origin: Option<SessionKey>,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) {
        self.broker_published.fetch_add(1, Ordering::Relaxed);
        let publication = Publication {
            topic,
            payload,
            qos: options.qos,
            retain: options.retain,
            properties: options.properties.clone(),
            origin: origin.and_then(origin_of),
            expires_at: Deadline::NONE,
            inbound_id: 0,
        };
        let mut effects = self.effects();
        {
            let router = self.router.read();
            if publication.retain {
                // A full store keeps its older messages; the live publish still goes out.
                let _ = self.retain(&publication);
            }
            router.route(publication, &mut effects, None);
        }
        self.run_effects(effects);
    }

    /// Publishes a will now.
    pub(crate) fn publish_will(&self, origin: SessionKey, will: Will) {
        self.publish_will_from(Some(origin), will);
    }

    /// Publishes a will now, from session `origin` if it still exists.
    pub(crate) fn publish_will_from(&self, origin: Option<SessionKey>, will: Will) {
        let topic = will.topic;
        let mut options = PublishOptions::new(will.qos).retain(will.retain);
        if let Some(properties) = will.properties {
            options = options.properties(properties);
        }
        self.publish_internal(origin, topic, will.payload, &options);
    }
}

/// What [`Engine::publish_start`] leaves to do.
#[derive(Debug)]
pub(crate) struct Started {
    /// Deliveries that found their queue full, for a publisher that waits for room.
    pub(crate) blocked: Vec<(Arc<Session>, Delivery)>,
    /// The first session whose full queue dropped the message.
    pub(crate) full: Option<ValueArc<str>>,
}

/// A publish's result: [`PublishError::QueueFull`] if a full queue dropped it and the
/// options asked to hear of that.
#[inline]
pub(crate) fn publish_result(
    full: Option<ValueArc<str>>,
    options: &PublishOptions,
) -> Result<(), PublishError> {
    match full {
        Some(client_id) if options.fail_if_full => Err(PublishError::QueueFull {
            client_id: client_id.to_string(),
        }),
        _ => Ok(()),
    }
}

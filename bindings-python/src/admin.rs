//! `Admin`: potok's Kafka admin client (`potok::client::admin`) for Python. Every call blocks without the GIL
//! and returns per-item results (an exception instance or the value); the public layer turns them into
//! confluent-kafka-style futures.

use potok::client::admin::IsolationLevel;
use potok::client::admin::{Admin as EngineAdmin, ConfigResource, NewTopic, OffsetSpec, ResourceType};
use potok::client::{ClientError, TopicPartition};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::{self, blocking};
use crate::errors;

/// One per-item result: `(key, value, None)` or `(key, None, exception)`.
fn item<'py, K, V>(py: Python<'py>, key: K, result: Result<V, ClientError>) -> PyResult<Bound<'py, PyTuple>>
where
    K: IntoPyObject<'py>,
    V: IntoPyObject<'py>,
{
    match result {
        Ok(value) => (key, Some(value), py.None()).into_pyobject(py),
        Err(e) => (key, None::<V>, errors::client_exception(py, &e)?).into_pyobject(py),
    }
}

fn resource_type(code: i8) -> PyResult<ResourceType> {
    match code {
        2 => Ok(ResourceType::Topic),
        4 => Ok(ResourceType::Broker),
        8 => Ok(ResourceType::BrokerLogger),
        32 => Ok(ResourceType::Group),
        other => Err(PyValueError::new_err(format!("unknown resource type {other}"))),
    }
}

type PartitionRow = (i32, i32, i32, Vec<i32>, Vec<i32>, i16);
type TopicRow = (String, String, bool, i16, Vec<PartitionRow>);
type BrokerRow = (i32, String, i32, Option<String>);
type MetadataRows = (Option<String>, i32, Vec<BrokerRow>, Vec<TopicRow>);
/// A topic to create: name, partitions, replication factor, topic configs.
type NewTopicRow = (String, i32, i16, Vec<(String, String)>);

/// A Kafka admin client configured by Kafka config pairs.
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct Admin {
    inner: EngineAdmin,
}

#[pymethods]
impl Admin {
    #[new]
    fn new(py: Python<'_>, config: Vec<(String, String)>) -> PyResult<Self> {
        Ok(Admin { inner: blocking(py, || EngineAdmin::new(&config))? })
    }

    /// Creates `(name, num_partitions, replication_factor, configs)` topics (-1: the broker's default).
    #[pyo3(signature = (topics, validate_only=false, timeout=None))]
    fn create_topics<'py>(
        &self,
        py: Python<'py>,
        topics: Vec<NewTopicRow>,
        validate_only: bool,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let topics: Vec<NewTopic> = topics
            .into_iter()
            .map(|(name, partitions, replication_factor, configs)| NewTopic {
                configs,
                ..NewTopic::new(name, partitions, replication_factor)
            })
            .collect();
        let results = blocking(py, || self.inner.create_topics(&topics, validate_only, convert::timeout(timeout)))?;
        results.into_iter().map(|(name, r)| item(py, name, r.map(|()| true))).collect()
    }

    #[pyo3(signature = (names, timeout=None))]
    fn delete_topics<'py>(
        &self,
        py: Python<'py>,
        names: Vec<String>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let results = blocking(py, || self.inner.delete_topics(&names, convert::timeout(timeout)))?;
        results.into_iter().map(|(name, r)| item(py, name, r.map(|()| true))).collect()
    }

    /// Adds partitions: `(topic, new_total)` pairs.
    #[pyo3(signature = (totals, validate_only=false, timeout=None))]
    fn create_partitions<'py>(
        &self,
        py: Python<'py>,
        totals: Vec<(String, i32)>,
        validate_only: bool,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let results = blocking(py, || self.inner.create_partitions(&totals, validate_only, convert::timeout(timeout)))?;
        results.into_iter().map(|(name, r)| item(py, name, r.map(|()| true))).collect()
    }

    /// The cluster's metadata: `(cluster_id, controller_id, brokers, topics)`, brokers as
    /// `(node_id, host, port, rack)` and topics as `(name, topic_id, is_internal, error_code, partitions)` with
    /// partitions as `(partition, leader, leader_epoch, replicas, isr, error_code)`.
    #[pyo3(signature = (timeout=None))]
    fn metadata(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<MetadataRows> {
        let metadata = blocking(py, || self.inner.metadata(convert::timeout(timeout)))?;
        let brokers = metadata.brokers.values().map(|b| (b.node_id, b.host.clone(), b.port, b.rack.clone())).collect();
        let mut topics: Vec<TopicRow> = metadata
            .topics
            .values()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition, p.leader, p.leader_epoch, p.replicas.clone(), p.isr.clone(), p.error_code))
                    .collect();
                (t.name.clone(), t.topic_id.to_string(), t.is_internal, t.error_code, partitions)
            })
            .collect();
        topics.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((metadata.cluster_id.clone(), metadata.controller_id, brokers, topics))
    }

    /// Config entries of `(resource_type, name)` resources, each entry
    /// `(name, value, source, is_default, read_only, sensitive)`.
    #[pyo3(signature = (resources, timeout=None))]
    fn describe_configs<'py>(
        &self,
        py: Python<'py>,
        resources: Vec<(i8, String)>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let resources = resources
            .into_iter()
            .map(|(t, name)| Ok(ConfigResource { resource_type: resource_type(t)?, name }))
            .collect::<PyResult<Vec<_>>>()?;
        let results = blocking(py, || self.inner.describe_configs(&resources, convert::timeout(timeout)))?;
        results
            .into_iter()
            .map(|(resource, r)| {
                let entries = r.map(|entries| {
                    entries
                        .into_iter()
                        .map(|e| (e.name, e.value, e.source, e.is_default, e.read_only, e.sensitive))
                        .collect::<Vec<_>>()
                });
                item(py, (resource.resource_type as i8, resource.name), entries)
            })
            .collect()
    }

    /// Groups as `(group_id, protocol_type, state, group_type)`.
    #[pyo3(signature = (timeout=None))]
    fn list_groups(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Vec<(String, String, String, String)>> {
        let groups = blocking(py, || self.inner.list_groups(convert::timeout(timeout)))?;
        Ok(groups.into_iter().map(|g| (g.group_id, g.protocol_type, g.state, g.group_type)).collect())
    }

    /// Each group as `(group_id, state, protocol_type, protocol, coordinator, members)`, members as
    /// `(member_id, group_instance_id, client_id, host, [(topic, partition)])`.
    #[pyo3(signature = (group_ids, timeout=None))]
    fn describe_groups<'py>(
        &self,
        py: Python<'py>,
        group_ids: Vec<String>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let results = blocking(py, || self.inner.describe_groups(&group_ids, convert::timeout(timeout)))?;
        results
            .into_iter()
            .map(|(id, r)| {
                let described = r.map(|g| {
                    let members: Vec<_> = g
                        .members
                        .into_iter()
                        .map(|m| {
                            let assignment: Vec<(String, i32)> =
                                m.assignment.into_iter().map(|tp| (tp.topic, tp.partition)).collect();
                            (m.member_id, m.group_instance_id, m.client_id, m.host, assignment)
                        })
                        .collect();
                    (g.group_id, g.state, g.protocol_type, g.protocol, g.coordinator, members)
                });
                item(py, id, described)
            })
            .collect()
    }

    /// A group's committed offsets as `(topic, partition, offset, metadata)`.
    #[pyo3(signature = (group_id, partitions=None, timeout=None))]
    fn list_consumer_group_offsets(
        &self,
        py: Python<'_>,
        group_id: String,
        partitions: Option<Vec<(String, i32)>>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<(String, i32, i64, String)>> {
        let partitions = partitions.map(convert::topic_partitions);
        let offsets = blocking(py, || {
            self.inner.list_consumer_group_offsets(&group_id, partitions.as_deref(), convert::timeout(timeout))
        })?;
        Ok(offsets.into_iter().map(|(tp, o)| (tp.topic, tp.partition, o.offset, o.metadata)).collect())
    }

    #[pyo3(signature = (group_ids, timeout=None))]
    fn delete_groups<'py>(
        &self,
        py: Python<'py>,
        group_ids: Vec<String>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let results = blocking(py, || self.inner.delete_groups(&group_ids, convert::timeout(timeout)))?;
        results.into_iter().map(|(id, r)| item(py, id, r.map(|()| true))).collect()
    }

    /// Looks offsets up: `(topic, partition, spec)` with spec -2 earliest, -1 latest, -3 max timestamp, or a
    /// timestamp; each result `(offset, timestamp, leader_epoch)`.
    #[pyo3(signature = (specs, read_committed=false, timeout=None))]
    fn list_offsets<'py>(
        &self,
        py: Python<'py>,
        specs: Vec<(String, i32, i64)>,
        read_committed: bool,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let specs: Vec<(TopicPartition, OffsetSpec)> = specs
            .into_iter()
            .map(|(topic, partition, spec)| {
                let spec = match spec {
                    -2 => OffsetSpec::Earliest,
                    -1 => OffsetSpec::Latest,
                    -3 => OffsetSpec::MaxTimestamp,
                    t => OffsetSpec::Timestamp(t),
                };
                (TopicPartition::new(topic, partition), spec)
            })
            .collect();
        let isolation = if read_committed { IsolationLevel::ReadCommitted } else { IsolationLevel::ReadUncommitted };
        let results = blocking(py, || self.inner.list_offsets(&specs, isolation, convert::timeout(timeout)))?;
        results
            .into_iter()
            .map(|(tp, r)| item(py, (tp.topic, tp.partition), r.map(|o| (o.offset, o.timestamp, o.leader_epoch))))
            .collect()
    }

    /// Deletes records before `(topic, partition, offset)`; each result is the new low watermark.
    #[pyo3(signature = (before, timeout=None))]
    fn delete_records<'py>(
        &self,
        py: Python<'py>,
        before: Vec<(String, i32, i64)>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let before: Vec<(TopicPartition, i64)> =
            before.into_iter().map(|(t, p, o)| (TopicPartition::new(t, p), o)).collect();
        let results = blocking(py, || self.inner.delete_records(&before, convert::timeout(timeout)))?;
        results.into_iter().map(|(tp, r)| item(py, (tp.topic, tp.partition), r)).collect()
    }
}

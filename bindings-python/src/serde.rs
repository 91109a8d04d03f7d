//! `Serializer` and `Deserializer`: potok's serializers (`potok::serde`) for Python, behind the public module
//! `potok.serialization`.
//!
//! The binding only converts: Python objects to `serde_json` trees and back, numbers and strings to the
//! engine's types. The serializer is chosen by name in core (`potok::host::serde`), and every byte written or
//! read, every JSON Schema check and every Avro encoding happens in `potok::serde`, so Python writes exactly what the engine (and Kafka's Java serializers) write. Failures are
//! `potok.errors.SerializationError` with librdkafka's key/value (de)serialization code and the JSON Pointers of
//! the failing fields in `field_paths`.

use potok::host::serde::{Datum, Framing, Input, NamedSerde};
use potok::host::SerdeSide;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors;

/// Deepest nesting of a Python value converted to JSON: the limit serde_json and `potok::serde::avro` apply
/// when reading, so whatever is written can be read back, and a list containing itself fails instead of
/// recursing without end.
const DEPTH_MAX: usize = 128;

/// Why a Python object has no JSON form; `path` is the JSON Pointer of the object within the value.
struct ConvertError {
    path: String,
    message: String,
}

/// What `to_value` accepts beyond JSON's own types.
#[derive(Clone, Copy)]
struct Accept {
    /// Avro's JSON convention writes `bytes` and `fixed` as strings whose code points are the byte values.
    bytes_as_code_points: bool,
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A Python value as a JSON tree: None, bool, int (64-bit), float (finite), str, dict with str keys, list and
/// tuple, as `json.dumps` takes them.
fn to_value(obj: &Bound<'_, PyAny>, accept: Accept, path: &str, depth: usize) -> Result<Value, ConvertError> {
    let fail = |message: String| ConvertError { path: path.to_string(), message };
    if depth > DEPTH_MAX {
        return Err(fail(format!("nested deeper than {DEPTH_MAX} levels")));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool is a subclass of int in Python, so it is tested first.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(fail("integer does not fit in 64 bits".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v).map(Value::Number).ok_or_else(|| fail(format!("{v} has no JSON form")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_cow().map(|s| Value::String(s.into_owned())).map_err(|e| fail(e.to_string()));
    }
    if accept.bytes_as_code_points {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Value::String(b.as_bytes().iter().map(|&b| char::from(b)).collect()));
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            return Ok(Value::String(b.to_vec().into_iter().map(char::from).collect()));
        }
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in dict.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                let type_name = k.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                return Err(fail(format!("keys must be str, not {type_name}")));
            };
            let key = key.to_cow().map_err(|e| fail(e.to_string()))?.into_owned();
            let item = to_value(&v, accept, &format!("{path}/{}", escape_pointer(&key)), depth + 1)?;
            map.insert(key, item);
        }
        return Ok(Value::Object(map));
    }
    let items = |seq: Vec<Bound<'_, PyAny>>| -> Result<Value, ConvertError> {
        seq.iter()
            .enumerate()
            .map(|(i, item)| to_value(item, accept, &format!("{path}/{i}"), depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    };
    if let Ok(list) = obj.cast::<PyList>() {
        return items(list.iter().collect());
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return items(tuple.iter().collect());
    }
    let type_name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    Err(fail(format!("Object of type {type_name} is not JSON serializable")))
}

/// A JSON tree as Python values: dict, list, str, int, float, bool, None.
fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// The typed exception for an object the binding could not even hand to the engine.
fn convert_error(py: Python<'_>, error: ConvertError, key: bool) -> PyErr {
    let message = format!("{}: {}", if error.path.is_empty() { "/" } else { &error.path }, error.message);
    errors::serialization_error(py, &message, vec![error.path], key, false)
}

#[derive(Debug)]
struct Named(NamedSerde);

fn named(py: Python<'_>, kind: &str, schema: Option<&str>, framing: Framing) -> PyResult<Named> {
    NamedSerde::new(kind, schema, framing).map(Named).map_err(|e| errors::raise(py, &e))
}

/// One of potok's serializers, chosen by `kind`: "string", "integer", "double", "json" (validated against
/// `schema` when given) or "avro" (`schema` required). A `schema_id` frames JSON and Avro in the Confluent wire
/// format. The choice and every byte written are core's (`potok::host::serde`); this class converts values.
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct Serializer {
    serde: Named,
}

#[pymethods]
impl Serializer {
    #[new]
    #[pyo3(signature = (kind, schema=None, schema_id=None))]
    fn new(py: Python<'_>, kind: &str, schema: Option<&str>, schema_id: Option<i32>) -> PyResult<Self> {
        Ok(Serializer { serde: named(py, kind, schema, Framing { schema_id, framed: false })? })
    }

    /// The bytes of `value` for a record of `topic` (None for None); `key` picks the error code.
    #[pyo3(signature = (topic, value, key=false))]
    fn serialize<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        value: &Bound<'py, PyAny>,
        key: bool,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if value.is_none() {
            return Ok(None);
        }
        let side = SerdeSide { key, deserializing: false };
        let wrong_type = |expected: &str| {
            let type_name = value.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            let message = format!("{expected} expected, not {type_name}");
            errors::serialization_error(py, &message, Vec::new(), key, false)
        };
        let datum = match self.serde.0.input() {
            Input::Text => {
                let s = value.cast::<PyString>().map_err(|_| wrong_type("str"))?;
                let text =
                    s.to_cow().map_err(|e| errors::serialization_error(py, &e.to_string(), Vec::new(), key, false))?;
                Datum::Text(text.into_owned())
            }
            Input::Integer => {
                if value.cast::<PyInt>().is_err() {
                    return Err(wrong_type("int"));
                }
                let i: i32 = value.extract().map_err(|_| {
                    let message = format!("{value} does not fit in a 32-bit integer");
                    errors::serialization_error(py, &message, Vec::new(), key, false)
                })?;
                Datum::Int(i.into())
            }
            Input::Double => {
                // Python's struct.pack(">d", ...) takes ints as well as floats; so does this.
                if value.cast::<PyFloat>().is_err() && value.cast::<PyInt>().is_err() {
                    return Err(wrong_type("float"));
                }
                let d: f64 = value
                    .extract()
                    .map_err(|e: PyErr| errors::serialization_error(py, &e.to_string(), Vec::new(), key, false))?;
                Datum::Double(d)
            }
            Input::Json { bytes_as_code_points } => Datum::Json(
                to_value(value, Accept { bytes_as_code_points }, "", 0).map_err(|e| convert_error(py, e, key))?,
            ),
        };
        match self.serde.0.serialize(topic, Some(&datum), side) {
            Ok(bytes) => Ok(bytes.map(|b| PyBytes::new(py, &b))),
            Err(e) => Err(errors::raise(py, &e)),
        }
    }
}

/// One of potok's deserializers, the counterpart of [`Serializer`]: `framed` reads the Confluent wire format,
/// and `schema_id` (Avro) also requires that id in the frame.
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct Deserializer {
    serde: Named,
}

#[pymethods]
impl Deserializer {
    #[new]
    #[pyo3(signature = (kind, schema=None, framed=false, schema_id=None))]
    fn new(py: Python<'_>, kind: &str, schema: Option<&str>, framed: bool, schema_id: Option<i32>) -> PyResult<Self> {
        // A JSON deserializer reads plain JSON unless it has a schema or reads framed payloads; the id a framed
        // JSON payload carries is not checked (only Avro's is).
        let schema_id = if kind == "json" { None } else { schema_id };
        Ok(Deserializer { serde: named(py, kind, schema, Framing { schema_id, framed })? })
    }

    /// The value of record bytes `data` read from `topic` (None for None); `key` picks the error code.
    #[pyo3(signature = (topic, data, key=false))]
    fn deserialize<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        data: Option<&[u8]>,
        key: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let side = SerdeSide { key, deserializing: true };
        match self.serde.0.deserialize(topic, data, side).map_err(|e| errors::raise(py, &e))? {
            None => Ok(py.None().into_bound(py)),
            Some(Datum::Text(s)) => Ok(PyString::new(py, &s).into_any()),
            Some(Datum::Int(i)) => Ok(i.into_pyobject(py)?.into_any()),
            // Not through JSON: a double may be NaN or infinite, which JSON cannot hold.
            Some(Datum::Double(d)) => Ok(d.into_pyobject(py)?.into_any()),
            Some(Datum::Json(v)) => to_py(py, &v),
        }
    }
}

# Avro reference bytes for core/src/serde/avro.rs tests, written by Apache Avro's own Python implementation
# (pip package avro 1.12.0). Run by hand: python avro_vectors.py > core/src/serde/testdata/avro-vectors.json
import io, json, avro.schema, avro.io
def enc(schema_json, datum):
    s = avro.schema.parse(json.dumps(schema_json))
    buf = io.BytesIO()
    avro.io.DatumWriter(s).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue().hex()
cases = []
for v in [0, -1, 1, -64, 64, 2**31-1, -2**31]:
    cases.append(("int", v))
for v in [2**63-1, -2**63, 1595140882000]:
    cases.append(("long", v))
cases += [("float", 1.5), ("double", 277.85), ("string", "héllo"), ("boolean", True), ("null", None)]
cases += [({"type":"enum","name":"E","symbols":["CASH","CARD"]}, "CARD")]
cases += [({"type":"array","items":"int"}, [1, -2, 3]), ({"type":"array","items":"int"}, [])]
cases += [({"type":"map","values":"long"}, {"a": 1, "b": -1})]
cases += [(["null","string"], None), (["null","string"], "x"), (["null","double","string"], 2.5)]
cases += [({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":None},{"name":"c","type":"string","default":"dflt"}]}, {"a": 3, "b": None, "c": "dflt"})]
out = []
for s, v in cases:
    out.append({"schema": s, "value": v, "hex": enc(s, v)})
out.append({"schema": {"type":"fixed","name":"F","size":3}, "value": "\u0001\u00ff\u0000", "hex": enc({"type":"fixed","name":"F","size":3}, b"\x01\xff\x00")})
out.append({"schema": "bytes", "value": "\u0000\u00e9", "hex": enc("bytes", b"\x00\xe9")})
schema = json.load(open("/work/wt-pure/core/src/serde/testdata/pos-invoice.avsc"))
invoice = {"InvoiceNumber": "51058379", "CreatedTime": 1595140882000, "StoreID": "STR7188",
    "PosID": "POS956", "CashierID": "OAS134", "CustomerType": "PRIME", "CustomerCardNo": "4629185211",
    "TotalAmount": 11114.0, "NumberOfItems": 4, "PaymentMethod": "CARD", "TaxableAmount": 11114.0,
    "CGST": 277.85, "SGST": 277.85, "CESS": 13.8925, "DeliveryType": "HOME-DELIVERY",
    "DeliveryAddress": {"AddressLine": "13436 Sundance Lane", "City": "Pune", "State": "Maharashtra", "PinCode": "411001", "ContactNumber": "2306117245"},
    "InvoiceLineItems": [
        {"ItemCode": "458", "ItemDescription": "Wine glass", "ItemPrice": 1644.0, "ItemQty": 2, "TotalValue": 3288.0},
        {"ItemCode": "283", "ItemDescription": "Sauce Pan", "ItemPrice": 1913.0, "ItemQty": 1, "TotalValue": 1913.0}]}
import datetime
def with_time(d):
    d = dict(d); d["CreatedTime"] = datetime.datetime.fromtimestamp(d["CreatedTime"] / 1000, tz=datetime.timezone.utc); return d
out.append({"schema": "pos-invoice.avsc", "value": invoice, "hex": enc(schema, with_time(invoice))})
takeaway = dict(invoice, DeliveryType="TAKEAWAY", DeliveryAddress=None, CashierID=None)
out.append({"schema": "pos-invoice.avsc", "value": takeaway, "hex": enc(schema, with_time(takeaway))})
print(json.dumps(out, indent=1, ensure_ascii=True))

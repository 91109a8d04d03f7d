// Random point-of-sale invoices as the course's POS simulator generates them (CURRICULUM.md §4): 20 stores with 5
// tills each, PRIME/NONPRIME customers, CASH/CARD, HOME-DELIVERY/TAKEAWAY (some addresses without a
// ContactNumber), 1-4 items of quantity 1-2, CGST = SGST = 2.5% and CESS = 0.125% of the taxable amount.

const CITIES = [
  ['Pune', 'Maharashtra', '411001'],
  ['Mumbai', 'Maharashtra', '400001'],
  ['Chennai', 'Tamil Nadu', '600001'],
  ['Kolkata', 'West Bengal', '700001'],
  ['Bengaluru', 'Karnataka', '560001'],
];
const PRODUCTS = [
  ['458', 'Wine glass', 1644.0],
  ['283', 'Sauce Pan', 1913.0],
  ['147', 'Coffee Mug', 499.0],
  ['602', 'Table Lamp', 2250.0],
  ['915', 'Bath Towel', 349.0],
  ['371', 'Cutlery Set', 1299.0],
];

/** mulberry32: a small seeded generator, so that a run's invoices can be made again. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class InvoiceGenerator {
  constructor(seed = 7) {
    this.rng = random(seed);
  }

  int(lo, hi) {
    return lo + Math.floor(this.rng() * (hi - lo + 1));
  }

  pick(list) {
    return list[Math.floor(this.rng() * list.length)];
  }

  next() {
    const items = [];
    for (let n = this.int(1, 4); n > 0; n--) {
      const [code, description, price] = this.pick(PRODUCTS);
      const qty = this.int(1, 2);
      items.push({ ItemCode: code, ItemDescription: description, ItemPrice: price, ItemQty: qty, TotalValue: price * qty });
    }
    const total = items.reduce((s, i) => s + i.TotalValue, 0);
    const delivery = this.pick(['HOME-DELIVERY', 'TAKEAWAY']);
    let address = null;
    if (delivery === 'HOME-DELIVERY') {
      const [city, state, pin] = this.pick(CITIES);
      const contact = this.rng() < 0.1 ? '' : String(this.int(7_000_000_000, 9_999_999_999));
      address = { AddressLine: `${this.int(1, 9999)} Main Road`, City: city, State: state, PinCode: pin, ContactNumber: contact };
    }
    const prime = this.rng() < 0.5;
    const round = (x) => Math.round(x * 10_000) / 10_000;
    return {
      InvoiceNumber: String(this.int(10_000_000, 99_999_999)),
      CreatedTime: Date.now(),
      StoreID: `STR${this.int(0, 19) + 7000}`,
      PosID: `POS${this.int(100, 104)}`,
      CashierID: `OAS${this.int(100, 999)}`,
      CustomerType: prime ? 'PRIME' : 'NONPRIME',
      CustomerCardNo: prime ? String(this.int(1_000_000_000, 9_999_999_999)) : null,
      TotalAmount: total,
      NumberOfItems: items.length,
      PaymentMethod: this.pick(['CASH', 'CARD']),
      TaxableAmount: total,
      CGST: round(total * 0.025),
      SGST: round(total * 0.025),
      CESS: round(total * 0.00125),
      DeliveryType: delivery,
      DeliveryAddress: address,
      InvoiceLineItems: items,
    };
  }
}

/** The course's rule: a home delivery needs a contact number. */
export function isInvalid(invoice) {
  return invoice.DeliveryType === 'HOME-DELIVERY' && (invoice.DeliveryAddress?.ContactNumber ?? '') === '';
}

/** Sends `count` invoices to `topic`, keyed by StoreID; prints `produced N invoices (invalid: M)`. */
export async function produceInvoices(kafka, potok, topic, count) {
  const generator = new InvoiceGenerator(7);
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  let invalid = 0;
  for (let i = 0; i < count; i++) {
    const invoice = generator.next();
    invalid += isInvalid(invoice) ? 1 : 0;
    messages.push({ key: invoice.StoreID, value: potok.serializers.json.serialize(invoice) });
  }
  await producer.send({ topic, messages });
  await producer.disconnect();
  console.log(`produced ${count} invoices (invalid: ${invalid})`);
}

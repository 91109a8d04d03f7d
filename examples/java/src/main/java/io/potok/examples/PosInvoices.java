package io.potok.examples;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Random point-of-sale invoices as the course's POS simulator generates them (CURRICULUM.md §4): 20 stores with 5
 * tills each, PRIME/NONPRIME customers, CASH/CARD, HOME-DELIVERY/TAKEAWAY (some addresses without a
 * ContactNumber), 1-4 items of quantity 1-2, CGST = SGST = 2.5% and CESS = 0.125%; the validator's rule; and the
 * course's Jackson-based JSON serializer and deserializer. Invoices are maps with the PosInvoice field names.
 */
final class PosInvoices {
    private static final String[][] CITIES = {{"Pune", "Maharashtra", "411001"}, {"Mumbai", "Maharashtra", "400001"},
        {"Chennai", "Tamil Nadu", "600001"}, {"Kolkata", "West Bengal", "700001"}, {"Bengaluru", "Karnataka", "560001"}};
    private static final Object[][] PRODUCTS = {{"458", "Wine glass", 1644.0}, {"283", "Sauce Pan", 1913.0},
        {"147", "Coffee Mug", 499.0}, {"602", "Table Lamp", 2250.0}, {"915", "Bath Towel", 349.0},
        {"371", "Cutlery Set", 1299.0}};
    static final ObjectMapper JSON = new ObjectMapper();

    private final Random random;

    PosInvoices(long seed) {
        random = new Random(seed);
    }

    private int between(int lo, int hi) {
        return lo + random.nextInt(hi - lo + 1);
    }

    Map<String, Object> next() {
        List<Map<String, Object>> items = new ArrayList<>();
        double total = 0;
        for (int n = between(1, 4); n > 0; n--) {
            Object[] product = PRODUCTS[random.nextInt(PRODUCTS.length)];
            int qty = between(1, 2);
            double price = (Double) product[2];
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("ItemCode", product[0]);
            item.put("ItemDescription", product[1]);
            item.put("ItemPrice", price);
            item.put("ItemQty", qty);
            item.put("TotalValue", price * qty);
            items.add(item);
            total += price * qty;
        }
        String delivery = random.nextBoolean() ? "HOME-DELIVERY" : "TAKEAWAY";
        Map<String, Object> address = null;
        if (delivery.equals("HOME-DELIVERY")) {
            String[] city = CITIES[random.nextInt(CITIES.length)];
            address = new LinkedHashMap<>();
            address.put("AddressLine", between(1, 9999) + " Main Road");
            address.put("City", city[0]);
            address.put("State", city[1]);
            address.put("PinCode", city[2]);
            address.put("ContactNumber", random.nextDouble() < 0.1 ? "" : String.valueOf(7_000_000_000L + (long) (random.nextDouble() * 2_999_999_999L)));
        }
        boolean prime = random.nextBoolean();
        Map<String, Object> invoice = new LinkedHashMap<>();
        invoice.put("InvoiceNumber", String.valueOf(between(10_000_000, 99_999_999)));
        invoice.put("CreatedTime", System.currentTimeMillis());
        invoice.put("StoreID", "STR" + (7000 + between(0, 19)));
        invoice.put("PosID", "POS" + between(100, 104));
        invoice.put("CashierID", "OAS" + between(100, 999));
        invoice.put("CustomerType", prime ? "PRIME" : "NONPRIME");
        invoice.put("CustomerCardNo", prime ? String.valueOf(1_000_000_000L + (long) (random.nextDouble() * 8_999_999_999L)) : null);
        invoice.put("TotalAmount", total);
        invoice.put("NumberOfItems", items.size());
        invoice.put("PaymentMethod", random.nextBoolean() ? "CASH" : "CARD");
        invoice.put("TaxableAmount", total);
        invoice.put("CGST", Math.round(total * 0.025 * 10_000) / 10_000.0);
        invoice.put("SGST", Math.round(total * 0.025 * 10_000) / 10_000.0);
        invoice.put("CESS", Math.round(total * 0.00125 * 10_000) / 10_000.0);
        invoice.put("DeliveryType", delivery);
        invoice.put("DeliveryAddress", address);
        invoice.put("InvoiceLineItems", items);
        return invoice;
    }

    /** The course's rule: a home delivery needs a contact number. */
    static boolean isInvalid(Map<String, Object> invoice) {
        if (!"HOME-DELIVERY".equals(invoice.get("DeliveryType"))) return false;
        Object address = invoice.get("DeliveryAddress");
        Object contact = address instanceof Map<?, ?> m ? m.get("ContactNumber") : null;
        return contact == null || contact.toString().isEmpty();
    }

    /** The course's JsonSerializer: an object as JSON text (Jackson). */
    static final class JsonSerializer implements Serializer<Map<String, Object>> {
        @Override
        public byte[] serialize(String topic, Map<String, Object> data) {
            try {
                return data == null ? null : JSON.writeValueAsBytes(data);
            } catch (IOException e) {
                throw new SerializationException("cannot write the invoice as JSON", e);
            }
        }
    }

    /** The course's JsonDeserializer: JSON text as a map. */
    static final class JsonDeserializer implements Deserializer<Map<String, Object>> {
        @Override
        @SuppressWarnings("unchecked")
        public Map<String, Object> deserialize(String topic, byte[] data) {
            try {
                return data == null ? null : JSON.readValue(data, Map.class);
            } catch (IOException e) {
                throw new SerializationException("not a JSON invoice", e);
            }
        }
    }
}

package io.potok.internal;

import java.lang.reflect.Array;
import java.util.Iterator;
import java.util.Map;

/**
 * JSON text of a Java value tree (Map, Iterable or array, CharSequence, Number, Boolean, null), for the registry
 * serializers, whose native side takes JSON. {@code byte[]} becomes a string of code points U+0000..U+00FF, Avro's
 * JSON form of {@code bytes} and {@code fixed}. Nesting is limited to {@link #MAX_DEPTH} levels.
 */
public final class Json {
    /** Deepest nesting written (the native JSON parser refuses deeper than 128 levels too). */
    public static final int MAX_DEPTH = 128;

    private Json() {}

    public static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, int depth) {
        if (depth > MAX_DEPTH) throw new IllegalArgumentException("a value nested deeper than " + MAX_DEPTH);
        if (value == null) {
            out.append("null");
        } else if (value instanceof CharSequence s) {
            string(out, s.toString());
        } else if (value instanceof Boolean b) {
            out.append(b);
        } else if (value instanceof Double d && (d.isNaN() || d.isInfinite())
                || value instanceof Float f && (f.isNaN() || f.isInfinite())) {
            throw new IllegalArgumentException("JSON has no " + value);
        } else if (value instanceof Number n) {
            out.append(n);
        } else if (value instanceof byte[] bytes) {
            StringBuilder s = new StringBuilder(bytes.length);
            for (byte b : bytes) s.append((char) (b & 0xff));
            string(out, s.toString());
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!first) out.append(',');
                first = false;
                string(out, String.valueOf(e.getKey()));
                out.append(':');
                write(out, e.getValue(), depth + 1);
            }
            out.append('}');
        } else if (value instanceof Iterable<?> items) {
            out.append('[');
            Iterator<?> it = items.iterator();
            while (it.hasNext()) {
                write(out, it.next(), depth + 1);
                if (it.hasNext()) out.append(',');
            }
            out.append(']');
        } else if (value.getClass().isArray()) {
            out.append('[');
            int n = Array.getLength(value);
            for (int i = 0; i < n; i++) {
                if (i > 0) out.append(',');
                write(out, Array.get(value, i), depth + 1);
            }
            out.append(']');
        } else {
            throw new IllegalArgumentException("cannot write a " + value.getClass().getName() + " as JSON");
        }
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }
}

// Prints reference vectors computed by Apache Kafka's own client classes, for potok's client unit tests.
//   java ClientVectors murmur2     Rust tuples (key hex, Utils.murmur2(key), toPositive(hash) % 7)
//   java ClientVectors assignors   JSON: assignor cases (inputs and the Java assignment) and consumer protocol bytes
// Run through scripts/gen-client-vectors.sh, which writes core/src/client/testdata/.
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.internals.AbstractPartitionAssignor;
import org.apache.kafka.clients.consumer.internals.ConsumerProtocol;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.Utils;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class ClientVectors {
    static final ObjectMapper JSON = new ObjectMapper();

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x & 0xff));
        return s.toString();
    }

    static String hex(ByteBuffer buf) {
        ByteBuffer d = buf.duplicate();
        byte[] b = new byte[d.remaining()];
        d.get(b);
        return hex(b);
    }

    static void murmur(byte[] b) {
        int h = Utils.murmur2(b);
        System.out.println("(\"" + hex(b) + "\", " + h + ", " + Utils.toPositive(h) % 7 + "),");
    }

    static void murmur2() {
        String[] strings = {"", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh", "hello-producer-topic",
            "StoreID-1234", "STR1534", "potok", "The quick brown fox jumps over the lazy dog", "\u00e9\u00e8\u4e2d\u6587"};
        for (String s : strings) murmur(s.getBytes(StandardCharsets.UTF_8));
        for (int len = 1; len <= 9; len++) {
            byte[] b = new byte[len];
            for (int i = 0; i < len; i++) b[i] = (byte) (0xff - i * 17);
            murmur(b);
        }
        for (int v : new int[]{0, 1, 2, 3, 4, 5, 42, -1, Integer.MAX_VALUE, Integer.MIN_VALUE})
            murmur(ByteBuffer.allocate(4).putInt(v).array());
        murmur(ByteBuffer.allocate(8).putLong(1234567890123L).array());
        byte[] big = new byte[1000];
        for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31 + 7);
        murmur(big);
    }

    static AbstractPartitionAssignor assignor(String name) {
        switch (name) {
            case "range": return new RangeAssignor();
            case "roundrobin": return new RoundRobinAssignor();
            default: return new CooperativeStickyAssignor();
        }
    }

    static ArrayNode tps(Collection<TopicPartition> partitions) {
        List<TopicPartition> sorted = new ArrayList<>(partitions);
        sorted.sort(Comparator.comparing(TopicPartition::topic).thenComparing(TopicPartition::partition));
        ArrayNode out = JSON.createArrayNode();
        for (TopicPartition tp : sorted) out.add(JSON.createArrayNode().add(tp.topic()).add(tp.partition()));
        return out;
    }

    static final class Member {
        final String id;
        final String instance;
        Member(String id, String instance) { this.id = id; this.instance = instance; }
    }

    /** One assign() call on a fresh assignor, recorded with its inputs in the JoinGroup order given. */
    static Map<String, List<TopicPartition>> runCase(ArrayNode cases, String name, String label, Map<String, Integer> partitions,
                                                     List<Member> order, Map<String, Subscription> subs) {
        Map<String, Subscription> subscriptions = new HashMap<>();
        Set<String> subscribed = new HashSet<>();
        for (Member m : order) {
            subscriptions.put(m.id, subs.get(m.id));
            subscribed.addAll(subs.get(m.id).topics());
        }
        // As AbstractPartitionAssignor.assign(Cluster, ...) builds it: subscribed topics that exist.
        Map<String, Integer> perTopic = new HashMap<>();
        for (Map.Entry<String, Integer> e : partitions.entrySet())
            if (subscribed.contains(e.getKey())) perTopic.put(e.getKey(), e.getValue());
        Map<String, List<TopicPartition>> result = assignor(name).assign(perTopic, subscriptions);

        ObjectNode c = JSON.createObjectNode();
        c.put("assignor", name);
        c.put("label", label);
        ObjectNode p = c.putObject("partitions");
        new TreeMap<>(partitions).forEach(p::put);
        ArrayNode members = c.putArray("members");
        for (Member m : order) {
            Subscription s = subs.get(m.id);
            ObjectNode o = members.addObject();
            o.put("id", m.id);
            ArrayNode topics = o.putArray("topics");
            s.topics().forEach(topics::add);
            o.set("owned", tps(s.ownedPartitions()));
            o.put("generation", s.generationId().orElse(-1));
            if (s.userData() == null) o.putNull("user_data"); else o.put("user_data", hex(s.userData()));
            if (m.instance == null) o.putNull("instance"); else o.put("instance", m.instance);
        }
        ObjectNode a = c.putObject("assignment");
        new TreeMap<>(result).forEach((k, v) -> a.set(k, tps(v)));
        cases.add(c);
        return result;
    }

    static List<String> randomSubset(Random rnd, List<String> topics) {
        List<String> out = new ArrayList<>();
        for (String t : topics) if (rnd.nextInt(3) > 0) out.add(t);
        if (out.isEmpty()) out.add(topics.get(rnd.nextInt(topics.size())));
        return out;
    }

    /** A group through several rebalances: members join and leave, partitions are added, owners report back. */
    static void scenario(ArrayNode cases, String name, long seed) {
        Random rnd = new Random(seed);
        String[] names = {"orders", "pos", "invoice", "t3", "animals", "numbers"};
        int nTopics = 1 + rnd.nextInt(4);
        Map<String, Integer> partitions = new TreeMap<>();
        List<String> topics = new ArrayList<>();
        for (int i = 0; i < nTopics; i++) {
            topics.add(names[i]);
            partitions.put(names[i], 1 + rnd.nextInt(9));
        }
        boolean equal = rnd.nextInt(3) > 0;
        boolean statics = !name.equals("cooperative-sticky") && rnd.nextInt(3) == 0;
        List<Member> group = new ArrayList<>();
        int nextMember = 0;
        int initial = 1 + rnd.nextInt(6);
        for (int i = 0; i < initial; i++) group.add(newMember(rnd, nextMember++, statics));
        Map<String, List<TopicPartition>> previous = new HashMap<>();
        Map<String, List<String>> memberTopics = new HashMap<>();
        List<String> shared = randomSubset(rnd, topics);
        int generation = 1;
        for (int round = 0; round < 4; round++) {
            if (round > 0) {
                int change = rnd.nextInt(5);
                if (change == 0 || change == 1) {
                    for (int k = rnd.nextInt(2); k >= 0; k--) group.add(newMember(rnd, nextMember++, statics));
                } else if (change == 2 && group.size() > 1) {
                    group.remove(rnd.nextInt(group.size()));
                } else if (change == 3) {
                    String t = topics.get(rnd.nextInt(topics.size()));
                    partitions.put(t, partitions.get(t) + 1 + rnd.nextInt(3));
                } else if (!equal) {
                    memberTopics.remove(group.get(rnd.nextInt(group.size())).id);
                }
            }
            Map<String, Subscription> subs = new HashMap<>();
            for (Member m : group) {
                List<String> ts = equal ? shared : memberTopics.computeIfAbsent(m.id, k -> randomSubset(rnd, topics));
                List<TopicPartition> owned = previous.getOrDefault(m.id, Collections.emptyList());
                int style = rnd.nextInt(8);
                int memberGeneration = generation;
                if (style == 0 && !owned.isEmpty()) memberGeneration = Math.max(0, generation - 1 - rnd.nextInt(2));
                Subscription s;
                if (style == 1) {
                    // A version 1 subscription: the generation only in the cooperative user data.
                    s = new Subscription(new ArrayList<>(ts), ByteBuffer.wrap(ByteBuffer.allocate(4).putInt(memberGeneration).array()),
                        new ArrayList<>(owned), -1, Optional.empty());
                } else if (style == 2) {
                    s = new Subscription(new ArrayList<>(ts), null, new ArrayList<>(owned), -1, Optional.empty());
                } else {
                    s = new Subscription(new ArrayList<>(ts), null, new ArrayList<>(owned), owned.isEmpty() && rnd.nextBoolean() ? -1 : memberGeneration, Optional.empty());
                }
                s.setGroupInstanceId(Optional.ofNullable(m.instance));
                subs.put(m.id, s);
            }
            // Now and then two members claim the same partition, in the same or in different generations.
            if (name.equals("cooperative-sticky") && group.size() > 1 && rnd.nextInt(4) == 0) {
                Member a = group.get(rnd.nextInt(group.size()));
                Member b = group.get(rnd.nextInt(group.size()));
                List<TopicPartition> aOwned = subs.get(a.id).ownedPartitions();
                if (a != b && !aOwned.isEmpty()) {
                    Subscription sb = subs.get(b.id);
                    List<TopicPartition> bOwned = new ArrayList<>(sb.ownedPartitions());
                    bOwned.add(aOwned.get(rnd.nextInt(aOwned.size())));
                    int g = rnd.nextBoolean() ? subs.get(a.id).generationId().orElse(-1) : generation - 1;
                    Subscription replaced = new Subscription(sb.topics(), null, bOwned, g, Optional.empty());
                    subs.put(b.id, replaced);
                }
            }
            List<Member> order = new ArrayList<>(group);
            Collections.shuffle(order, rnd);
            previous = runCase(cases, name, "seed " + seed + " round " + round, partitions, order, subs);
            generation++;
        }
    }

    static Member newMember(Random rnd, int n, boolean statics) {
        String id = "consumer-" + n + "-" + new UUID(rnd.nextLong(), rnd.nextLong());
        String instance = statics && rnd.nextBoolean() ? "instance-" + rnd.nextInt(100) : null;
        return new Member(id, instance);
    }

    static void codec(ArrayNode out) {
        List<Subscription> subs = new ArrayList<>();
        subs.add(new Subscription(Arrays.asList("pos", "invoice")));
        subs.add(new Subscription(Arrays.asList("b", "a"), ByteBuffer.wrap(new byte[]{0, 0, 0, 7}),
            Arrays.asList(new TopicPartition("b", 2), new TopicPartition("a", 1), new TopicPartition("b", 0)), 7, Optional.of("rack-1")));
        subs.add(new Subscription(Collections.emptyList(), ByteBuffer.allocate(0), Collections.emptyList(), -1, Optional.empty()));
        subs.add(new Subscription(Collections.singletonList("\u00e9t\u00e9"), null, Collections.singletonList(new TopicPartition("\u00e9t\u00e9", 2147483647)), 2147483647, Optional.empty()));
        for (Subscription s : subs) {
            for (short v = 0; v <= 3; v++) {
                ObjectNode o = out.addObject();
                o.put("kind", "subscription");
                o.put("version", v);
                ArrayNode topics = o.putArray("topics");
                s.topics().forEach(topics::add);
                if (s.userData() == null) o.putNull("user_data"); else o.put("user_data", hex(s.userData()));
                o.set("owned", tps(s.ownedPartitions()));
                o.put("generation", s.generationId().orElse(-1));
                if (s.rackId().isPresent()) o.put("rack", s.rackId().get()); else o.putNull("rack");
                o.put("hex", hex(ConsumerProtocol.serializeSubscription(s, v)));
            }
        }
        List<Assignment> assignments = new ArrayList<>();
        assignments.add(new Assignment(Arrays.asList(new TopicPartition("pos", 2), new TopicPartition("invoice", 0), new TopicPartition("pos", 0))));
        assignments.add(new Assignment(Collections.emptyList(), ByteBuffer.wrap(new byte[]{1, 2, 3})));
        for (Assignment a : assignments) {
            for (short v = 0; v <= 3; v++) {
                ObjectNode o = out.addObject();
                o.put("kind", "assignment");
                o.put("version", v);
                ArrayNode parts = o.putArray("partitions");
                for (TopicPartition tp : a.partitions()) parts.add(JSON.createArrayNode().add(tp.topic()).add(tp.partition()));
                if (a.userData() == null) o.putNull("user_data"); else o.put("user_data", hex(a.userData()));
                o.put("hex", hex(ConsumerProtocol.serializeAssignment(a, v)));
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("murmur2")) {
            murmur2();
            return;
        }
        ObjectNode root = JSON.createObjectNode();
        ArrayNode cases = root.putArray("cases");
        for (String name : new String[]{"range", "roundrobin", "cooperative-sticky"}) {
            int scenarios = name.equals("cooperative-sticky") ? 60 : 15;
            for (long seed = 1; seed <= scenarios; seed++) scenario(cases, name, seed);
        }
        codec(root.putArray("codec"));
        System.out.println(JSON.writeValueAsString(root));
    }
}

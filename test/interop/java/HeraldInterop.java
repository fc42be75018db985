// java-spiffe interop client for Herald's Workload API. Each subcommand prints
// one JSON object on stdout so the TypeScript tests can assert on it (errors:
// {"error": ...} and exit 1):
//
//   HeraldInterop x509       X509Source: the SVID, the bundles' trust domains, the chain verified against the bundle
//   HeraldInterop jwt AUD    JwtSource: a JWT-SVID for AUD validated locally (JwtSource bundles) and by the agent
//   HeraldInterop watch N [jwt-rotation]
//                            X509Source and JwtSource held open until the X509Source saw N updates (a rotation);
//                            then the JwtSource fetches and validates a JWT-SVID on its long-lived stream. With
//                            jwt-rotation it first waits for JWT-SVIDs signed by a new key (the caller rotates
//                            the JWT authority after "x509 updates seen" appears on stderr) and for that key to reach
//                            the JwtSource's bundle, and validates such a JWT-SVID against it
//
// The socket comes from SPIFFE_ENDPOINT_SOCKET (unix:/path), as for any java-spiffe client.
// Built by scripts/setup (test/interop/java/pom.xml: java-spiffe-core + grpc-netty-linux).

import io.spiffe.bundle.jwtbundle.JwtBundle;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.jwtsvid.JwtSvid;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.svid.x509svid.X509SvidValidator;
import io.spiffe.workloadapi.Address;
import io.spiffe.workloadapi.DefaultJwtSource;
import io.spiffe.workloadapi.DefaultWorkloadApiClient;
import io.spiffe.workloadapi.DefaultX509Source;
import io.spiffe.workloadapi.JwtSource;
import io.spiffe.workloadapi.JwtSourceOptions;
import io.spiffe.workloadapi.WorkloadApiClient;
import io.spiffe.workloadapi.X509Source;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

public final class HeraldInterop {
    private static final String USAGE = "usage: HeraldInterop x509|jwt AUD|watch N [jwt-rotation]";
    private static final Duration INIT_TIMEOUT = Duration.ofSeconds(60);

    public static void main(String[] args) {
        if (args.length < 1) {
            emit(Map.of("error", USAGE));
            System.exit(2);
        }
        try {
            String socket = Address.getDefaultAddress();
            switch (args[0]) {
                case "x509":
                    emit(x509(socket));
                    break;
                case "jwt":
                    if (args.length < 2) throw new IllegalArgumentException("jwt needs an audience; " + USAGE);
                    emit(jwt(socket, args[1]));
                    break;
                case "watch":
                    emit(watch(socket, args.length >= 2 ? Integer.parseInt(args[1]) : 2,
                            args.length >= 3 && args[2].equals("jwt-rotation")));
                    break;
                default:
                    throw new IllegalArgumentException("unknown command " + quote(args[0]) + "; " + USAGE);
            }
        } catch (Throwable e) {
            e.printStackTrace();
            fail(e);
        }
        // The sources' event loops are not daemon threads.
        System.exit(0);
    }

    private static Map<String, Object> x509(String socket) throws Exception {
        try (X509Source source = DefaultX509Source.newSource(x509Options(socket, null));
             WorkloadApiClient client = newClient(socket)) {
            X509Svid svid = source.getX509Svid();
            // Verify our own SVID against the source's bundles, as a peer would.
            X509SvidValidator.verifyChain(svid.getChain(), source);
            Set<String> tds = new TreeSet<>();
            for (TrustDomain td : client.fetchX509Bundles().getBundles().keySet()) tds.add(td.getName());
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("svids", List.of(svidInfo(svid)));
            out.put("bundles", new ArrayList<>(tds));
            out.put("verified_id", svid.getSpiffeId().toString());
            return out;
        }
    }

    private static Map<String, Object> jwt(String socket, String aud) throws Exception {
        try (JwtSource source = DefaultJwtSource.newSource(jwtOptions(socket));
             WorkloadApiClient client = newClient(socket)) {
            return jwtCheck(source, client, aud);
        }
    }

    /** Fetches a JWT-SVID from the source, validates it against the source's bundles and by the agent. */
    private static Map<String, Object> jwtCheck(JwtSource source, WorkloadApiClient client, String aud) throws Exception {
        return jwtCheck(source, client, source.fetchJwtSvid(aud), aud);
    }

    private static Map<String, Object> jwtCheck(JwtSource source, WorkloadApiClient client, JwtSvid svid, String aud) throws Exception {
        String token = svid.marshal();
        JwtSvid local = JwtSvid.parseAndValidate(token, source, Set.of(aud));
        JwtSvid remote = client.validateJwtSvid(token, aud);
        boolean wrongAudFail;
        try {
            client.validateJwtSvid(token, "someone-else");
            wrongAudFail = false;
        } catch (Exception expected) {
            wrongAudFail = true;
        }
        JwtBundle bundle = source.getBundleForTrustDomain(svid.getSpiffeId().getTrustDomain());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", svid.getSpiffeId().toString());
        out.put("audience", new ArrayList<>(new TreeSet<>(svid.getAudience())));
        out.put("local_id", local.getSpiffeId().toString());
        out.put("remote_id", remote.getSpiffeId().toString());
        out.put("wrong_aud_fail", wrongAudFail);
        out.put("kid", kid(token));
        out.put("key_ids", new ArrayList<>(new TreeSet<>(bundle.getJwtAuthorities().keySet())));
        out.put("token", token);
        return out;
    }

    private static Map<String, Object> watch(String socket, int want, boolean jwtRotation) throws Exception {
        // X509Source has no listener of its own; its SVID picker runs on every
        // update the source takes from its Workload API stream, so it is one.
        List<List<Map<String, Object>>> updates = new ArrayList<>();
        Object lock = new Object();
        DefaultX509Source.X509SourceOptions options = x509Options(socket, svids -> {
            synchronized (lock) {
                List<Map<String, Object>> update = new ArrayList<>();
                for (X509Svid s : svids) update.add(svidInfo(s));
                updates.add(update);
                lock.notifyAll();
            }
            return svids.get(0);
        });
        try (X509Source x509 = DefaultX509Source.newSource(options);
             JwtSource jwt = DefaultJwtSource.newSource(jwtOptions(socket));
             WorkloadApiClient client = newClient(socket)) {
            Map<String, Object> before = jwtCheck(jwt, client, "watch");
            System.err.println("watching");
            System.err.flush();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            synchronized (lock) {
                while (updates.size() < want) {
                    long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                    if (left <= 0) throw new IllegalStateException("timed out after " + updates.size() + " updates");
                    lock.wait(left);
                }
            }
            // The source serves the rotated SVID (the picker runs just before
            // the source stores what it picked), and it still verifies.
            String last;
            synchronized (lock) {
                last = (String) updates.get(want - 1).get(0).get("serial");
            }
            X509Svid current = x509.getX509Svid();
            for (int i = 0; i < 100 && !current.getLeaf().getSerialNumber().toString(16).equals(last); i++) {
                Thread.sleep(50);
                current = x509.getX509Svid();
            }
            X509SvidValidator.verifyChain(current.getChain(), x509);
            Map<String, Object> out = new LinkedHashMap<>();
            synchronized (lock) {
                out.put("updates", new ArrayList<>(updates.subList(0, want)));
            }
            out.put("current", svidInfo(current));
            out.put("jwt_before", before);
            if (!jwtRotation) {
                out.put("jwt_after", jwtCheck(jwt, client, "watch"));
                return out;
            }
            // The caller rotates the JWT authority only now: a bundle change also
            // reaches X509 streams, and must not pass for the SVID rotation.
            System.err.println("x509 updates seen");
            System.err.flush();
            // A fresh audience each time, so the agent signs a new JWT-SVID
            // rather than handing out one it cached before the rotation.
            long rotationDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            JwtSvid rotated = null;
            String rotatedAud = null;
            for (int i = 0; rotated == null; i++) {
                if (System.nanoTime() > rotationDeadline) throw new IllegalStateException("no JWT-SVID signed by a new key");
                rotatedAud = "watch-rotated-" + i;
                JwtSvid s = jwt.fetchJwtSvid(rotatedAud);
                if (!kid(s.marshal()).equals(before.get("kid"))) rotated = s;
                else Thread.sleep(500);
            }
            // The JwtSource learns the new key from its JWT bundle stream.
            String newKid = kid(rotated.marshal());
            TrustDomain td = rotated.getSpiffeId().getTrustDomain();
            while (!jwt.getBundleForTrustDomain(td).hasJwtAuthority(newKid)) {
                if (System.nanoTime() > rotationDeadline) throw new IllegalStateException("the JwtSource never got key " + newKid);
                Thread.sleep(100);
            }
            out.put("jwt_after", jwtCheck(jwt, client, rotated, rotatedAud));
            return out;
        }
    }

    private static DefaultX509Source.X509SourceOptions x509Options(
            String socket, java.util.function.Function<List<X509Svid>, X509Svid> picker) {
        DefaultX509Source.X509SourceOptions.Builder b =
                DefaultX509Source.X509SourceOptions.builder().spiffeSocketPath(socket).initTimeout(INIT_TIMEOUT);
        if (picker != null) b.svidPicker(picker);
        return b.build();
    }

    private static JwtSourceOptions jwtOptions(String socket) {
        return JwtSourceOptions.builder().spiffeSocketPath(socket).initTimeout(INIT_TIMEOUT).build();
    }

    private static WorkloadApiClient newClient(String socket) throws Exception {
        return DefaultWorkloadApiClient.newClient(
                DefaultWorkloadApiClient.ClientOptions.builder().spiffeSocketPath(socket).build());
    }

    /** The kid of a JWT's header. */
    private static String kid(String token) {
        String header = new String(java.util.Base64.getUrlDecoder().decode(token.substring(0, token.indexOf('.'))),
                java.nio.charset.StandardCharsets.UTF_8);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"kid\"\\s*:\\s*\"([^\"]*)\"").matcher(header);
        return m.find() ? m.group(1) : "";
    }

    private static Map<String, Object> svidInfo(X509Svid svid) {
        X509Certificate leaf = svid.getLeaf();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", svid.getSpiffeId().toString());
        m.put("serial", leaf.getSerialNumber().toString(16));
        m.put("not_after", DateTimeFormatter.ISO_INSTANT.format(leaf.getNotAfter().toInstant().truncatedTo(ChronoUnit.SECONDS)));
        if (svid.getHint() != null && !svid.getHint().isEmpty()) m.put("hint", svid.getHint());
        return m;
    }

    private static void emit(Object value) {
        System.out.println(json(value));
        System.out.flush();
    }

    private static void fail(Throwable e) {
        StringBuilder msg = new StringBuilder(String.valueOf(e));
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) msg.append(": ").append(c);
        emit(Map.of("error", msg.toString()));
        System.exit(1);
    }

    // A small JSON writer for maps, lists, strings, numbers and booleans.
    private static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof String) return quote((String) v);
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        StringBuilder sb = new StringBuilder();
        if (v instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                sb.append(quote(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
            }
            return sb.append('}').toString();
        }
        if (v instanceof Collection) {
            sb.append('[');
            boolean first = true;
            for (Object o : (Collection<?>) v) {
                if (!first) sb.append(',');
                first = false;
                sb.append(json(o));
            }
            return sb.append(']').toString();
        }
        return quote(v.toString());
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
            }
        }
        return sb.append('"').toString();
    }
}

package io.potok.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads potok's native library (libpotok, the same library C programs link) once per JVM: from the path in the
 * system property {@code potok.library.path} when set, otherwise from the jar
 * ({@code io/potok/native/<os>-<arch>/}), copied to a temporary file that is deleted when the JVM exits.
 */
public final class NativeLibrary {
    private static volatile boolean loaded;

    private NativeLibrary() {}

    /** The jar directory name for this platform: {@code linux-x86_64}, {@code linux-aarch64}, {@code darwin-aarch64}. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osName = os.contains("mac") ? "darwin" : os.contains("win") ? "windows" : os.replaceAll("\\s+", "");
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    static String fileName() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (os.contains("mac")) return "libpotok.dylib";
        if (os.contains("win")) return "potok.dll";
        return "libpotok.so";
    }

    /** Loads the library if this JVM has not yet; throws {@link UnsatisfiedLinkError} naming what was tried. */
    public static synchronized void load() {
        if (loaded) return;
        String override = System.getProperty("potok.library.path");
        if (override != null && !override.isEmpty()) {
            System.load(Path.of(override).toAbsolutePath().toString());
            loaded = true;
            return;
        }
        String resource = "/io/potok/native/" + platform() + "/" + fileName();
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("potok has no native library for " + platform() + " in its jar ("
                        + resource + "); set -Dpotok.library.path=/path/to/" + fileName());
            }
            Path file = Files.createTempFile("potok-", "-" + fileName());
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            System.load(file.toAbsolutePath().toString());
            loaded = true;
        } catch (IOException e) {
            UnsatisfiedLinkError error = new UnsatisfiedLinkError("cannot extract " + resource + ": " + e);
            error.initCause(e);
            throw error;
        }
    }
}

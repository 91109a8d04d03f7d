package io.potok;

import io.potok.junit.PotokExtension;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The course's Java exercises against an embedded PotokBroker (one for the class). */
class CurriculumOnPotokTest extends Curriculum {
    @RegisterExtension
    static final PotokExtension POTOK = new PotokExtension();

    @Override
    String bootstrap() {
        return POTOK.bootstrapServers();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @title OCR3MedianAggregator
/// @notice Onchain end of the OCR3 median feed. The owner registers a
/// configuration (signers, transmitters, f, onchain/offchain config); a
/// registered transmitter submits reports signed by exactly f+1 distinct
/// registered signers; the contract checks the config digest, the transmitter,
/// that the sequence number increases and every signature, then stores the
/// median of the report and exposes it through AggregatorV3Interface.
///
/// Formats (see DESIGN.md, "Signatures and chain formats"):
/// - config digest: keccak256(abi.encode(chainId, address(this), configCount,
///   signers, transmitters, f, onchainConfig, offchainConfigVersion,
///   offchainConfig)) with its first two bytes replaced by 0x0001;
/// - report context: [configDigest, seqNr as a uint256 word];
/// - signed hash: keccak256(keccak256(report) || configDigest || seqNr word),
///   secp256k1, r,s,v with v in {0,1} (byte i of rawVs), low s only;
/// - report: abi.encode(uint32 observationsTimestamp, bytes32 observers,
///   int192[] observations (sorted ascending), int192 juelsPerFeeCoin);
/// - onchainConfig: 49 bytes = 0x01 || int192 min (24 bytes, big-endian,
///   two's complement) || int192 max (24 bytes).
contract OCR3MedianAggregator is AggregatorV3Interface {
    // ------------------------------------------------------------ constants

    /// @notice Maximum number of oracles (signers = transmitters = n).
    uint256 public constant MAX_NUM_ORACLES = 31;

    /// @dev secp256k1 group order divided by two (EIP-2 upper bound for s).
    uint256 internal constant SECP256K1_HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @dev The two leading bytes of every config digest.
    uint256 internal constant CONFIG_DIGEST_PREFIX = 0x0001;
    uint256 internal constant CONFIG_DIGEST_PREFIX_MASK = uint256(0xffff) << 240;

    uint8 internal constant ONCHAIN_CONFIG_VERSION = 1;
    uint256 internal constant ONCHAIN_CONFIG_LENGTH = 49;

    /// @dev Head of an ABI-encoded median report: 4 head words + array length.
    uint256 internal constant REPORT_HEAD_LENGTH = 5 * 32;

    // --------------------------------------------------------------- errors

    // setConfig
    error OnlyCallableByOwner(address caller);
    error OracleLengthMismatch(uint256 numSigners, uint256 numTransmitters);
    error TooManyOracles(uint256 numOracles, uint256 maxNumOracles);
    error FaultToleranceMustBePositive();
    error FaultToleranceTooHigh(uint256 numOracles, uint256 f);
    error ZeroSignerAddress(uint256 index);
    error ZeroTransmitterAddress(uint256 index);
    error DuplicateSignerAddress(address signer);
    error DuplicateTransmitterAddress(address transmitter);
    error InvalidOnchainConfig();

    // transmit
    error ConfigDigestMismatch(bytes32 expected, bytes32 actual);
    error UnauthorizedTransmitter(address sender);
    error StaleSeqNr(uint64 latestSeqNr, uint256 seqNr);
    error SeqNrTooLarge(uint256 seqNr);
    error WrongNumberOfSignatures(uint256 expected, uint256 numRs, uint256 numSs);
    error InvalidSignatureV(uint256 index, uint8 rawV);
    error HighSSignature(uint256 index);
    error UnauthorizedSigner(uint256 index, address recovered);
    error DuplicateSignature(uint256 index, address signer);
    error MalformedReport();
    error InvalidObservationCount(uint256 numObservations, uint256 f);
    error UnsortedObservations(uint256 index);
    error AnswerOutOfRange(int192 answer, int192 minAnswer, int192 maxAnswer);

    // AggregatorV3Interface
    error NoDataPresent();

    // --------------------------------------------------------------- events

    event ConfigSet(
        uint32 previousConfigBlockNumber,
        bytes32 configDigest,
        uint64 configCount,
        address[] signers,
        address[] transmitters,
        uint8 f,
        bytes onchainConfig,
        uint64 offchainConfigVersion,
        bytes offchainConfig
    );

    /// @notice OCR2's NewTransmission, with the OCR3 sequence number in place
    /// of epochAndRound.
    event NewTransmission(
        uint32 indexed aggregatorRoundId,
        int192 answer,
        address transmitter,
        uint32 observationsTimestamp,
        int192[] observations,
        bytes observers,
        int192 juelsPerFeeCoin,
        bytes32 configDigest,
        uint64 seqNr
    );

    /// @notice Chainlink AggregatorInterface's AnswerUpdated.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    // -------------------------------------------------------------- storage

    struct Oracle {
        uint8 signerIndexPlusOne; // 0: not a signer
        uint8 transmitterIndexPlusOne; // 0: not a transmitter
    }

    struct Transmission {
        int192 answer;
        uint32 observationsTimestamp;
        uint32 transmissionTimestamp;
        uint64 seqNr; // second slot
    }

    struct MedianReport {
        uint32 observationsTimestamp;
        bytes observers;
        int192[] observations;
        int192 juelsPerFeeCoin;
    }

    struct ConfigArgs {
        address[] signers;
        address[] transmitters;
        uint8 f;
        bytes onchainConfig;
        uint64 offchainConfigVersion;
        bytes offchainConfig;
    }

    address internal immutable i_owner;
    uint8 internal immutable i_decimals;
    string internal s_description;

    // Hot slots read by transmit (packed: one slot per line).
    bytes32 internal s_configDigest;
    int192 internal s_minAnswer;
    uint64 internal s_latestSeqNr;
    int192 internal s_maxAnswer;
    uint32 internal s_latestRoundId;
    uint8 internal s_f;

    // Config bookkeeping.
    uint64 internal s_configCount;
    uint32 internal s_latestConfigBlockNumber;

    mapping(address => Oracle) internal s_oracles;
    address[] internal s_signers;
    address[] internal s_transmitters;

    mapping(uint32 => Transmission) internal s_transmissions;

    constructor(uint8 decimals_, string memory description_) {
        i_owner = msg.sender;
        i_decimals = decimals_;
        s_description = description_;
    }

    // ---------------------------------------------------------------- admin

    function owner() external view returns (address) {
        return i_owner;
    }

    /// @notice Sets a new configuration; only the owner (deployer).
    function setConfig(
        address[] calldata signers,
        address[] calldata transmitters,
        uint8 f,
        bytes calldata onchainConfig,
        uint64 offchainConfigVersion,
        bytes calldata offchainConfig
    ) external {
        if (msg.sender != i_owner) revert OnlyCallableByOwner(msg.sender);
        _setConfig(ConfigArgs(signers, transmitters, f, onchainConfig, offchainConfigVersion, offchainConfig));
    }

    function _setConfig(ConfigArgs memory a) internal {
        _validateAndRegister(a);
        s_latestSeqNr = 0; // sequence numbers restart with every config

        uint32 previousConfigBlockNumber = s_latestConfigBlockNumber;
        uint64 configCount = s_configCount + 1;
        s_configCount = configCount;
        s_latestConfigBlockNumber = uint32(block.number);

        bytes32 configDigest = _configDigest(configCount, a);
        s_configDigest = configDigest;

        emit ConfigSet(
            previousConfigBlockNumber,
            configDigest,
            configCount,
            a.signers,
            a.transmitters,
            a.f,
            a.onchainConfig,
            a.offchainConfigVersion,
            a.offchainConfig
        );
    }

    function _validateAndRegister(ConfigArgs memory a) internal {
        uint256 n = a.signers.length;
        if (a.transmitters.length != n) revert OracleLengthMismatch(n, a.transmitters.length);
        if (n > MAX_NUM_ORACLES) revert TooManyOracles(n, MAX_NUM_ORACLES);
        if (a.f == 0) revert FaultToleranceMustBePositive();
        if (3 * uint256(a.f) >= n) revert FaultToleranceTooHigh(n, a.f);
        (int192 minAnswer, int192 maxAnswer) = _parseOnchainConfig(a.onchainConfig);

        // Forget the previous oracles.
        uint256 oldN = s_signers.length;
        for (uint256 i = 0; i < oldN; ++i) {
            delete s_oracles[s_signers[i]];
            delete s_oracles[s_transmitters[i]];
        }

        // Register the new ones; the mapping doubles as duplicate detector.
        for (uint256 i = 0; i < n; ++i) {
            address signer = a.signers[i];
            address transmitter = a.transmitters[i];
            if (signer == address(0)) revert ZeroSignerAddress(i);
            if (transmitter == address(0)) revert ZeroTransmitterAddress(i);
            Oracle storage so = s_oracles[signer];
            if (so.signerIndexPlusOne != 0) revert DuplicateSignerAddress(signer);
            so.signerIndexPlusOne = uint8(i + 1);
            Oracle storage to = s_oracles[transmitter];
            if (to.transmitterIndexPlusOne != 0) revert DuplicateTransmitterAddress(transmitter);
            to.transmitterIndexPlusOne = uint8(i + 1);
        }
        s_signers = a.signers;
        s_transmitters = a.transmitters;

        s_f = a.f;
        s_minAnswer = minAnswer;
        s_maxAnswer = maxAnswer;
    }

    function _configDigest(uint64 configCount, ConfigArgs memory a) internal view returns (bytes32) {
        uint256 h = uint256(
            keccak256(
                abi.encode(
                    block.chainid,
                    address(this),
                    configCount,
                    a.signers,
                    a.transmitters,
                    a.f,
                    a.onchainConfig,
                    a.offchainConfigVersion,
                    a.offchainConfig
                )
            )
        );
        return bytes32((h & ~CONFIG_DIGEST_PREFIX_MASK) | (CONFIG_DIGEST_PREFIX << 240));
    }

    /// @dev 49 bytes: version 0x01, int192 min, int192 max (24 bytes each).
    function _parseOnchainConfig(bytes memory c) internal pure returns (int192 minAnswer, int192 maxAnswer) {
        if (c.length != ONCHAIN_CONFIG_LENGTH || uint8(c[0]) != ONCHAIN_CONFIG_VERSION) {
            revert InvalidOnchainConfig();
        }
        uint256 minWord;
        uint256 maxWord;
        assembly ("memory-safe") {
            minWord := mload(add(c, 33)) // bytes 1..32
            maxWord := mload(add(c, 57)) // bytes 25..48 (+8 bytes of padding/garbage)
        }
        minAnswer = int192(uint192(minWord >> 64));
        maxAnswer = int192(uint192(maxWord >> 64));
        if (minAnswer > maxAnswer) revert InvalidOnchainConfig();
    }

    // ------------------------------------------------------------- transmit

    /// @notice Submits a report signed by exactly f+1 distinct registered
    /// signers. reportContext = [configDigest, seqNr as a uint256 word];
    /// byte i of rawVs is the v (0 or 1) of signature i.
    function transmit(
        bytes32[2] calldata reportContext,
        bytes calldata report,
        bytes32[] calldata rs,
        bytes32[] calldata ss,
        bytes32 rawVs
    ) external {
        uint64 seqNr = _checkContext(reportContext);
        _verifySignatures(
            keccak256(abi.encodePacked(keccak256(report), reportContext[0], reportContext[1])), rs, ss, rawVs
        );
        _acceptReport(report, reportContext[0], seqNr);
    }

    function _checkContext(bytes32[2] calldata reportContext) internal view returns (uint64) {
        bytes32 configDigest = s_configDigest;
        if (reportContext[0] != configDigest) revert ConfigDigestMismatch(configDigest, reportContext[0]);
        if (s_oracles[msg.sender].transmitterIndexPlusOne == 0) revert UnauthorizedTransmitter(msg.sender);
        uint256 seqNr = uint256(reportContext[1]);
        uint64 latest = s_latestSeqNr;
        if (seqNr <= latest) revert StaleSeqNr(latest, seqNr);
        if (seqNr > type(uint64).max) revert SeqNrTooLarge(seqNr);
        return uint64(seqNr);
    }

    function _verifySignatures(bytes32 h, bytes32[] calldata rs, bytes32[] calldata ss, bytes32 rawVs)
        internal
        view
    {
        uint256 expected = uint256(s_f) + 1;
        if (rs.length != expected || ss.length != expected) {
            revert WrongNumberOfSignatures(expected, rs.length, ss.length);
        }
        uint256 seen; // bit (signer index + 1) set once that signer has signed
        for (uint256 i = 0; i < expected; ++i) {
            uint8 rawV = uint8(rawVs[i]);
            if (rawV > 1) revert InvalidSignatureV(i, rawV);
            bytes32 s = ss[i];
            if (uint256(s) > SECP256K1_HALF_ORDER) revert HighSSignature(i);
            address signer = ecrecover(h, rawV + 27, rs[i], s);
            uint256 idx = s_oracles[signer].signerIndexPlusOne; // address(0) is never registered
            if (idx == 0) revert UnauthorizedSigner(i, signer);
            uint256 bit = uint256(1) << idx;
            if (seen & bit != 0) revert DuplicateSignature(i, signer);
            seen |= bit;
        }
    }

    function _acceptReport(bytes calldata report, bytes32 configDigest, uint64 seqNr) internal {
        MedianReport memory r = _decodeReport(report, s_f);
        int192 answer = r.observations[r.observations.length / 2];
        {
            int192 minAnswer = s_minAnswer;
            int192 maxAnswer = s_maxAnswer;
            if (answer < minAnswer || answer > maxAnswer) revert AnswerOutOfRange(answer, minAnswer, maxAnswer);
        }

        s_latestSeqNr = seqNr;
        uint32 roundId = s_latestRoundId + 1;
        s_latestRoundId = roundId;
        s_transmissions[roundId] = Transmission({
            answer: answer,
            observationsTimestamp: r.observationsTimestamp,
            transmissionTimestamp: uint32(block.timestamp),
            seqNr: seqNr
        });

        emit NewTransmission(
            roundId,
            answer,
            msg.sender,
            r.observationsTimestamp,
            r.observations,
            r.observers,
            r.juelsPerFeeCoin,
            configDigest,
            seqNr
        );
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }

    /// @dev Strict decoder for abi.encode(uint32, bytes32, int192[], int192):
    /// canonical layout only, clean values, sorted observations, count in
    /// (f, MAX_NUM_ORACLES], unused observer bytes zero. Reverts with custom
    /// errors, never a panic.
    function _decodeReport(bytes calldata report, uint256 f) internal pure returns (MedianReport memory r) {
        uint256 count;
        {
            uint256 len = report.length;
            if (len < REPORT_HEAD_LENGTH || (len - REPORT_HEAD_LENGTH) % 32 != 0) revert MalformedReport();
            uint256 tsWord;
            uint256 offsetWord;
            uint256 juelsWord;
            assembly ("memory-safe") {
                tsWord := calldataload(report.offset)
                offsetWord := calldataload(add(report.offset, 0x40))
                juelsWord := calldataload(add(report.offset, 0x60))
                count := calldataload(add(report.offset, 0x80))
            }
            if (
                tsWord > type(uint32).max || offsetWord != 0x80 || count != (len - REPORT_HEAD_LENGTH) / 32
                    || !_isInt192(juelsWord)
            ) revert MalformedReport();
            r.observationsTimestamp = uint32(tsWord);
            r.juelsPerFeeCoin = int192(int256(juelsWord));
        }
        if (count <= f || count > MAX_NUM_ORACLES) revert InvalidObservationCount(count, f);
        r.observers = _decodeObservers(report, count);
        r.observations = _decodeObservations(report, count);
    }

    /// @dev Observer byte i belongs to observations[i]; the remaining bytes
    /// of the bytes32 must be zero. Requires 0 < count <= 31.
    function _decodeObservers(bytes calldata report, uint256 count) internal pure returns (bytes memory observers) {
        uint256 observersWord;
        assembly ("memory-safe") {
            observersWord := calldataload(add(report.offset, 0x20))
        }
        if (observersWord & (type(uint256).max >> (8 * count)) != 0) revert MalformedReport();
        observers = new bytes(count);
        assembly ("memory-safe") {
            mstore(add(observers, 0x20), observersWord)
        }
    }

    /// @dev Clean int192 words, sorted ascending. Requires the length checks
    /// of _decodeReport (count words after the head).
    function _decodeObservations(bytes calldata report, uint256 count)
        internal
        pure
        returns (int192[] memory observations)
    {
        observations = new int192[](count);
        int256 previous = type(int256).min;
        for (uint256 i = 0; i < count; ++i) {
            uint256 w;
            assembly ("memory-safe") {
                w := calldataload(add(add(report.offset, 0xa0), shl(5, i)))
            }
            if (!_isInt192(w)) revert MalformedReport();
            int256 v = int256(w);
            if (v < previous) revert UnsortedObservations(i);
            previous = v;
            observations[i] = int192(v);
        }
    }

    /// @dev True iff w is a sign-extended (ABI-clean) int192.
    function _isInt192(uint256 w) internal pure returns (bool ok) {
        assembly {
            ok := eq(signextend(23, w), w)
        }
    }

    // ---------------------------------------------------------------- views

    /// @notice (configCount, block number of the latest setConfig, digest).
    function latestConfigDetails()
        external
        view
        returns (uint32 configCount, uint32 blockNumber, bytes32 configDigest)
    {
        return (uint32(s_configCount), s_latestConfigBlockNumber, s_configDigest);
    }

    /// @notice Highest sequence number accepted under the current config
    /// (0 right after setConfig).
    function latestSeqNr() external view returns (uint64) {
        return s_latestSeqNr;
    }

    function getSigners() external view returns (address[] memory) {
        return s_signers;
    }

    function getTransmitters() external view returns (address[] memory) {
        return s_transmitters;
    }

    /// @notice f and the answer bounds of the current config.
    function configParams() external view returns (uint8 f, int192 minAnswer, int192 maxAnswer) {
        return (s_f, s_minAnswer, s_maxAnswer);
    }

    /// @notice The sequence number of the report that produced round roundId.
    function getRoundSeqNr(uint80 roundId) external view returns (uint64) {
        if (roundId == 0 || roundId > s_latestRoundId) revert NoDataPresent();
        return s_transmissions[uint32(roundId)].seqNr;
    }

    function typeAndVersion() external pure returns (string memory) {
        return "OCR3MedianAggregator 1.0.0";
    }

    // ------------------------------------------------ AggregatorV3Interface

    function decimals() external view override returns (uint8) {
        return i_decimals;
    }

    function description() external view override returns (string memory) {
        return s_description;
    }

    function version() external pure override returns (uint256) {
        return 1;
    }

    /// @dev startedAt = observationsTimestamp, updatedAt = block timestamp of
    /// the transmission, answeredInRound = roundId (as in OCR2 aggregators).
    function getRoundData(uint80 roundId_)
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        if (roundId_ == 0 || roundId_ > s_latestRoundId) revert NoDataPresent();
        return _round(uint32(roundId_));
    }

    function latestRoundData()
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint32 latest = s_latestRoundId;
        if (latest == 0) revert NoDataPresent();
        return _round(latest);
    }

    function _round(uint32 roundId)
        internal
        view
        returns (uint80, int256, uint256, uint256, uint80)
    {
        Transmission storage t = s_transmissions[roundId];
        return (roundId, t.answer, t.observationsTimestamp, t.transmissionTimestamp, roundId);
    }
}

"""UPS Pull SCP (PS3.4 CC.2): C-FIND, N-GET, N-SET and N-ACTION "Change UPS State" on the exams' workitems, the
DIMSE side of what worklist.api offers over DICOMweb; worklist.scp dispatches to these handlers by SOP class.

Thin as the MWL and MPPS handlers: they translate, call worklist.workitems, and answer with the status PS3.4 CC.2
names. No exception leaves a handler; log lines carry UIDs and AE titles only.
"""

import logging

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from pydicom import DataElement, Dataset
from pydicom.datadict import dictionary_VR
from pydicom.sequence import Sequence

from ris.audit import Interface
from ris.text import fold
from worklist import ups, ups_search, workitems
from worklist.translate import InvalidQuery, ResponsePlan, _text, _value, is_universal

log = logging.getLogger(__name__)

PENDING, PENDING_WARNING = 0xFF00, 0xFF01
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, UNABLE_TO_PROCESS = 0xA900, 0xC001
PROCESSING_FAILURE, NO_SUCH_ACTION_TYPE = 0x0110, 0x0123
CHANGE_UPS_STATE = 1  # N-ACTION Action Type ID (PS3.4 CC.2.1.1)


def _caller(event) -> str:
    return (event.assoc.requestor.ae_title or "").strip()


def _actor(event) -> Interface:
    return Interface("DICOM", _caller(event) or "unknown")


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]
    return status


def _refused(event, what: str, uid: str, error: workitems.WorkitemRefusal) -> Dataset:
    log.info("UPS %s %s from %s refused with %04X: %s", what, uid, _caller(event), error.status, error.message)
    return _status(error.status, error.message)


# --- C-FIND ------------------------------------------------------------------------------------------------------


def _matching_value(identifier: Dataset, path: str) -> str:
    """The value of a matching key of the identifier, by dotted keyword path ("" when absent or universal)."""
    dataset = identifier
    *sequences, keyword = path.split(".")
    for sequence in sequences:
        items = _value(dataset, sequence)
        if not items:
            return ""
        if len(items) > 1:
            raise InvalidQuery(f"{sequence} may hold one item in a query")
        dataset = items[0]
    return _text(dataset, keyword)


def search_of(identifier: Dataset) -> ups_search.UpsSearch:
    """A UPS C-FIND identifier as the UPS-RS search it is: the same matching keys (ups_search.MATCHING_KEYS)."""
    params = []
    for path in ups_search.MATCHING_KEYS:
        text = _matching_value(identifier, path)
        if not is_universal(text):
            params.append((path, text.replace("\\", ",")))
    return ups_search.parse_search(
        params,
        tz=timezone.get_current_timezone(),
        fold=fold,
        default_statuses=settings.RIS_MWL_STATUSES,
        max_limit=settings.RIS_MWL_MAX_MATCHES,
    )


def _stored(dataset: Dataset, answer: Dataset, stored: dict) -> None:
    """What the performer set (DICOM JSON by tag), for the keys the identifier asked."""
    for tag, element in stored.items():
        if int(tag, 16) in dataset and tag != ups.TRANSACTION_UID:
            answer[int(tag, 16)] = Dataset.from_json({tag: element})[int(tag, 16)]


def handle_ups_find(event):
    """UPS C-FIND (Pull or Query SOP class): the workitems matching the identifier, the keys it asked for."""
    try:
        identifier = event.identifier
        search = search_of(identifier)
        plan = ResponsePlan(identifier)
        search.include_all = plan.asks(ups.FACT_KEYS)
    except Exception as error:  # a broken identifier, a malformed matching value
        log.info("UPS C-FIND from %s refused with A900 (%s)", _caller(event), type(error).__name__)
        yield IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None
        return
    close_old_connections()
    try:
        search.limit = settings.RIS_MWL_MAX_MATCHES
        for values, stored in workitems.workitem_values(search):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            answer, unsupported = plan.build(values)
            _stored(identifier, answer, stored)
            yield (PENDING_WARNING if unsupported else PENDING), answer
    except Exception:
        log.exception("UPS C-FIND from %s failed", _caller(event))
        yield UNABLE_TO_PROCESS, None
    finally:
        close_old_connections()


# --- N-GET, N-SET, N-ACTION -------------------------------------------------------------------------------------


def handle_ups_get(event):
    """N-GET: the workitem's attributes the request lists (all of them when it lists none), never its Transaction
    UID (PS3.4 CC.2.7)."""
    uid = str(event.request.RequestedSOPInstanceUID or "")
    close_old_connections()
    try:
        document, _item = workitems.workitem_get(uid)
        full = Dataset.from_json(document)
        wanted = list(event.attribute_identifiers)
        if not wanted:
            return _status(0x0000), full
        answer = Dataset()
        for tag in wanted:
            if tag == 0x00081195:
                continue
            answer[tag] = full[tag] if tag in full else _empty(tag)
        return _status(0x0000), answer
    except workitems.WorkitemRefusal as error:
        return _refused(event, "N-GET", uid, error), None
    except Exception:
        log.exception("UPS N-GET %s from %s failed", uid, _caller(event))
        return _status(PROCESSING_FAILURE), None
    finally:
        close_old_connections()


def _empty(tag) -> DataElement:
    vr = dictionary_VR(tag)
    return DataElement(tag, vr, Sequence() if vr == "SQ" else None)


def handle_ups_set(event):
    """N-SET: the performer's progress and performed procedure, with the claim's Transaction UID in the list."""
    uid = str(event.request.RequestedSOPInstanceUID or "")
    close_old_connections()
    try:
        modifications = event.modification_list
        dataset = ups.payload_dataset(modifications.to_json_dict())
        workitems.workitem_update(sop_instance_uid=uid, dataset=dataset, transaction_uid="", acting_user=_actor(event))
        return _status(0x0000), None
    except workitems.WorkitemRefusal as error:
        return _refused(event, "N-SET", uid, error), None
    except (ups.InvalidPayload, InvalidQuery, ValueError) as error:
        return _status(0x0106, str(error)), None
    except Exception:
        log.exception("UPS N-SET %s from %s failed", uid, _caller(event))
        return _status(PROCESSING_FAILURE), None
    finally:
        close_old_connections()


def handle_ups_action(event):
    """N-ACTION Change UPS State (Action Type 1): claim, complete or cancel, as Table CC.1.1-2 allows; a warning
    (B304, B306) when the workitem is already in the state asked for."""
    uid = str(event.request.RequestedSOPInstanceUID or "")
    if event.action_type != CHANGE_UPS_STATE:  # Request Cancel, (un)subscribe: not offered (UPS Push, Watch)
        return _status(NO_SUCH_ACTION_TYPE), None
    close_old_connections()
    try:
        information = event.action_information
        change = workitems.workitem_change_state(
            sop_instance_uid=uid,
            state=_text(information, "ProcedureStepState").strip().upper(),
            transaction_uid=_text(information, "TransactionUID").strip(),
            acting_user=_actor(event),
        )
        reply = Dataset()
        reply.ProcedureStepState = _text(information, "ProcedureStepState").strip().upper()
        reply.TransactionUID = _text(information, "TransactionUID").strip()
        return _status(change.status, change.warning), reply
    except workitems.WorkitemRefusal as error:
        return _refused(event, "N-ACTION", uid, error), None
    except InvalidQuery as error:
        return _status(0x0106, str(error)), None
    except Exception:
        log.exception("UPS N-ACTION %s from %s failed", uid, _caller(event))
        return _status(PROCESSING_FAILURE), None
    finally:
        close_old_connections()
